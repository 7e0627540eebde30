// SPDX-License-Identifier: GPL-3.0-or-later
// LDM/SGM -> diffusers key renames, written as tables of dotted-prefix rewrites plus the
// block-index arithmetic of diffusers v0.30.3 loaders/single_file_utils.py
// (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint,
// convert_open_clip_checkpoint). Checked against
// ../shared/fixtures/manifests/*_ldm_to_diffusers.tsv by tests/core/test_key_maps. The inverse
// (diffusers -> LDM, for writing single files) reads the same tables from right to left.
#include "tensor_io/key_maps.h"

#include "common/error.h"
#include "tensor_io/model_detect.h"

#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>
#include <span>
#include <string_view>

namespace psa {

namespace {

enum class Transform {
    Identity,
    ConvToLinear, ///< [C, C, 1, 1] -> [C, C] (VAE attention: 1x1 conv in LDM, Linear in diffusers)
    Transpose,    ///< OpenCLIP text_projection is used as x @ P; a Linear weight is P^T
    SplitQKV,     ///< OpenCLIP attn.in_proj_* [3W, ...] -> q/k/v_proj rows
};

/// `from` matches a whole dotted prefix of the remaining key ("norm" matches "norm.weight" and
/// "norm", never "norm1.weight") and is replaced by `to`.
struct Rename {
    std::string_view from, to;
    Transform transform = Transform::Identity;
};

// ---- prefixes ----
constexpr std::string_view kUNetPrefix = "model.diffusion_model.";
constexpr std::string_view kVAEPrefix = "first_stage_model.";
constexpr std::string_view kCLIPPrefixes[] = {"cond_stage_model.transformer.",         // SD 1.x
                                              "conditioner.embedders.0.transformer."}; // SDXL
constexpr std::string_view kOpenCLIPPrefix = "conditioner.embedders.1.model.";         // SDXL
constexpr std::string_view kOpenCLIPSD2Prefix = "cond_stage_model.model.";             // SD 2.x

// ---- UNet ----
constexpr Rename kUNetTop[] = {
    {"time_embed.0", "time_embedding.linear_1"},
    {"time_embed.2", "time_embedding.linear_2"},
    {"label_emb.0.0", "add_embedding.linear_1"}, // SDXL
    {"label_emb.0.2", "add_embedding.linear_2"},
    {"input_blocks.0.0", "conv_in"},
    {"out.0", "conv_norm_out"},
    {"out.2", "conv_out"},
};
constexpr Rename kUNetResnet[] = {
    {"in_layers.0", "norm1"},  {"in_layers.2", "conv1"},  {"emb_layers.1", "time_emb_proj"},
    {"out_layers.0", "norm2"}, {"out_layers.3", "conv2"}, {"skip_connection", "conv_shortcut"},
};
// Spatial transformers keep their inner names.
constexpr Rename kUNetTransformer[] = {
    {"norm", "norm"},
    {"proj_in", "proj_in"},
    {"proj_out", "proj_out"},
    {"transformer_blocks", "transformer_blocks"},
};
constexpr Rename kUNetDownsampler[] = {{"op", "conv"}};
constexpr Rename kUNetUpsampler[] = {{"conv", "conv"}};

// ---- VAE (first_stage_model.) ----
constexpr Rename kVAETop[] = {
    {"encoder.conv_in", "encoder.conv_in"},
    {"encoder.conv_out", "encoder.conv_out"},
    {"encoder.norm_out", "encoder.conv_norm_out"},
    {"decoder.conv_in", "decoder.conv_in"},
    {"decoder.conv_out", "decoder.conv_out"},
    {"decoder.norm_out", "decoder.conv_norm_out"},
    {"quant_conv", "quant_conv"},
    {"post_quant_conv", "post_quant_conv"},
};
constexpr Rename kVAEResnet[] = {
    {"norm1", "norm1"},
    {"conv1", "conv1"},
    {"norm2", "norm2"},
    {"conv2", "conv2"},
    {"nin_shortcut", "conv_shortcut"},
};
constexpr Rename kVAEAttention[] = {
    {"norm", "group_norm"},
    {"q", "to_q", Transform::ConvToLinear},
    {"k", "to_k", Transform::ConvToLinear},
    {"v", "to_v", Transform::ConvToLinear},
    {"proj_out", "to_out.0", Transform::ConvToLinear},
};
constexpr Rename kVAESampler[] = {{"conv", "conv"}};

// ---- CLIP-L (Hugging Face names already; only the text_model. level may be missing) ----
constexpr Rename kCLIPTop[] = {
    {"embeddings", "text_model.embeddings"},
    {"encoder", "text_model.encoder"},
    {"final_layer_norm", "text_model.final_layer_norm"},
};

// ---- OpenCLIP (open_clip names -> CLIPTextModelWithProjection) ----
constexpr Rename kOpenCLIPTop[] = {
    {"token_embedding", "text_model.embeddings.token_embedding"},
    {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
    {"ln_final", "text_model.final_layer_norm"},
    {"text_projection", "text_projection.weight", Transform::Transpose},
};
// transformer.resblocks.N.*
constexpr Rename kOpenCLIPLayer[] = {
    {"ln_1", "layer_norm1"},
    {"ln_2", "layer_norm2"},
    {"mlp.c_fc", "mlp.fc1"},
    {"mlp.c_proj", "mlp.fc2"},
    {"attn.out_proj", "self_attn.out_proj"},
    {"attn.in_proj_weight", "self_attn.{}_proj.weight", Transform::SplitQKV},
    {"attn.in_proj_bias", "self_attn.{}_proj.bias", Transform::SplitQKV},
};

// ---- known extras ----
constexpr std::string_view kIgnoredTop[] = {"betas", "alphas_cumprod", "alphas_cumprod_prev",
                                            "logvar"};
constexpr std::string_view kIgnoredTopPrefixes[] = {"sqrt_", "posterior_", "log_one_minus_"};

// ---- helpers ----

struct Renamed {
    std::string name;
    Transform transform = Transform::Identity;
};

bool consume(std::string_view& s, std::string_view prefix)
{
    if (!s.starts_with(prefix))
        return false;
    s.remove_prefix(prefix.size());
    return true;
}

/// Reads "<digits>." from the front of `s`.
bool take_index(std::string_view& s, int& index)
{
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), index);
    if (ec != std::errc{} || end == s.data() || end == s.data() + s.size() || *end != '.')
        return false;
    s.remove_prefix(static_cast<size_t>(end - s.data()) + 1);
    return true;
}

std::optional<Renamed> rename(std::string_view key, std::span<const Rename> table)
{
    for (const auto& rule : table) {
        if (!key.starts_with(rule.from))
            continue;
        const auto tail = key.substr(rule.from.size());
        if (tail.empty() || tail.front() == '.')
            return Renamed{std::string(rule.to) + std::string(tail), rule.transform};
    }
    return std::nullopt;
}

std::optional<Renamed> prefixed(const std::string& prefix, std::optional<Renamed> r)
{
    if (r)
        r->name = prefix + r->name;
    return r;
}

std::string num(int i)
{
    return std::to_string(i);
}

// ---- UNet: input_blocks / middle_block / output_blocks -> down/mid/up blocks ----
// input_blocks.0 is conv_in; then each down block b has layers_per_block (resnet[, attention])
// entries and, except the last, one downsampler: input_blocks.(1 + b*(L+1) + l). Output blocks
// have L+1 entries each, the upsampler rides on the last one (index 1, or 2 after an attention).
std::optional<Renamed> unet_rename(std::string_view key, const LdmLayout::UNet& u)
{
    if (auto r = rename(key, kUNetTop))
        return r;
    const int per = u.layers_per_block + 1;
    std::string_view s = key;
    int i = 0, j = 0;
    if (consume(s, "input_blocks.") && take_index(s, i) && take_index(s, j) && i >= 1) {
        const int b = (i - 1) / per, l = (i - 1) % per;
        if (b >= u.down_blocks)
            return std::nullopt;
        const std::string block = "down_blocks." + num(b) + ".";
        if (l < u.layers_per_block && j == 0)
            return prefixed(block + "resnets." + num(l) + ".", rename(s, kUNetResnet));
        if (l < u.layers_per_block && j == 1 && u.down_attention[b])
            return prefixed(block + "attentions." + num(l) + ".", rename(s, kUNetTransformer));
        if (l == u.layers_per_block && j == 0 && b + 1 < u.down_blocks)
            return prefixed(block + "downsamplers.0.", rename(s, kUNetDownsampler));
        return std::nullopt;
    }
    s = key;
    if (consume(s, "middle_block.") && take_index(s, j)) {
        if (j == 1)
            return prefixed("mid_block.attentions.0.", rename(s, kUNetTransformer));
        if (j == 0 || j == 2)
            return prefixed("mid_block.resnets." + num(j / 2) + ".", rename(s, kUNetResnet));
        return std::nullopt;
    }
    s = key;
    if (consume(s, "output_blocks.") && take_index(s, i) && take_index(s, j)) {
        const int b = i / per, l = i % per;
        if (b >= u.down_blocks)
            return std::nullopt;
        const std::string block = "up_blocks." + num(b) + ".";
        const bool attention = u.up_attention[b];
        if (j == 0)
            return prefixed(block + "resnets." + num(l) + ".", rename(s, kUNetResnet));
        if (j == 1 && attention)
            return prefixed(block + "attentions." + num(l) + ".", rename(s, kUNetTransformer));
        if (j == (attention ? 2 : 1) && l == u.layers_per_block && b + 1 < u.down_blocks)
            return prefixed(block + "upsamplers.0.", rename(s, kUNetUpsampler));
        return std::nullopt;
    }
    return std::nullopt;
}

// ---- VAE: encoder.down.i / decoder.up.i (reversed) / X.mid ----
std::optional<Renamed> vae_rename(std::string_view key, const LdmLayout::VAE& v)
{
    if (auto r = rename(key, kVAETop))
        return r;
    for (const std::string_view side : {"encoder.", "decoder."}) {
        std::string_view s = key;
        if (!consume(s, side))
            continue;
        const std::string out_side(side);
        const bool encoder = side == "encoder.";
        int i = 0, j = 0;
        if (consume(s, "mid.")) {
            const std::string mid = out_side + "mid_block.";
            if (consume(s, "attn_1."))
                return prefixed(mid + "attentions.0.", rename(s, kVAEAttention));
            if (consume(s, "block_") && take_index(s, j) && (j == 1 || j == 2))
                return prefixed(mid + "resnets." + num(j - 1) + ".", rename(s, kVAEResnet));
            return std::nullopt;
        }
        if (!consume(s, encoder ? "down." : "up.") || !take_index(s, i) || i >= v.blocks)
            return std::nullopt;
        // LDM numbers decoder levels from the lowest resolution up; diffusers from the first used.
        const int b = encoder ? i : v.blocks - 1 - i;
        const std::string block =
            out_side + (encoder ? "down_blocks." : "up_blocks.") + num(b) + ".";
        const int layers = v.layers_per_block + (encoder ? 0 : 1);
        if (consume(s, "block.") && take_index(s, j) && j < layers)
            return prefixed(block + "resnets." + num(j) + ".", rename(s, kVAEResnet));
        if (consume(s, encoder ? "downsample." : "upsample."))
            return prefixed(block + (encoder ? "downsamplers.0." : "upsamplers.0."),
                            rename(s, kVAESampler));
        return std::nullopt;
    }
    return std::nullopt;
}

std::optional<Renamed> clip_rename(std::string_view key)
{
    consume(key, "text_model."); // older SD 1.x files lack this level
    return rename(key, kCLIPTop);
}

std::optional<Renamed> open_clip_rename(std::string_view key)
{
    if (auto r = rename(key, kOpenCLIPTop))
        return r;
    int layer = 0;
    if (consume(key, "transformer.resblocks.") && take_index(key, layer))
        return prefixed("text_model.encoder.layers." + num(layer) + ".",
                        rename(key, kOpenCLIPLayer));
    return std::nullopt;
}

std::string with_source(const std::string& source, const std::string& message)
{
    return source.empty() ? message : path_message(source, message);
}

/// Adds `name` -> `tensor` to `dict`; two LDM keys landing on one name is a broken file.
void put(StateDict& dict, const std::string& name, const at::Tensor& tensor,
         const std::string& from, std::map<std::string, std::string>& origin,
         const std::string& source)
{
    auto [it, inserted] = origin.emplace(name, from);
    if (!inserted)
        throw ModelLoadError(with_source(source, "\"" + from + "\" and \"" + it->second +
                                                     "\" both map to \"" + name + "\""));
    dict[name] = tensor;
}

int max_or(const std::set<int>& s, int fallback)
{
    return s.empty() ? fallback : *s.rbegin();
}

// ---- diffusers -> LDM: the same tables read from right to left ----

std::optional<Renamed> unrename(std::string_view key, std::span<const Rename> table)
{
    for (const auto& rule : table) {
        if (!key.starts_with(rule.to))
            continue;
        const auto tail = key.substr(rule.to.size());
        if (tail.empty() || tail.front() == '.')
            return Renamed{std::string(rule.from) + std::string(tail), rule.transform};
    }
    return std::nullopt;
}

// input_blocks.(1 + b*(L+1) + l) and output_blocks.(b*(L+1) + l), as in unet_rename.
std::optional<Renamed> unet_unrename(std::string_view key, const LdmLayout::UNet& u)
{
    if (auto r = unrename(key, kUNetTop))
        return r;
    const int per = u.layers_per_block + 1;
    std::string_view s = key;
    int b = 0, l = 0;
    if (consume(s, "down_blocks.") && take_index(s, b)) {
        if (b < 0 || b >= u.down_blocks)
            return std::nullopt;
        const auto input = [&](int entry, int j) {
            return "input_blocks." + num(1 + b * per + entry) + "." + num(j) + ".";
        };
        if (consume(s, "resnets.") && take_index(s, l))
            return prefixed(input(l, 0), unrename(s, kUNetResnet));
        if (consume(s, "attentions.") && take_index(s, l))
            return prefixed(input(l, 1), unrename(s, kUNetTransformer));
        if (consume(s, "downsamplers.0."))
            return prefixed(input(u.layers_per_block, 0), unrename(s, kUNetDownsampler));
        return std::nullopt;
    }
    s = key;
    if (consume(s, "mid_block.")) {
        if (consume(s, "attentions.0."))
            return prefixed("middle_block.1.", unrename(s, kUNetTransformer));
        if (consume(s, "resnets.") && take_index(s, l))
            return prefixed("middle_block." + num(2 * l) + ".", unrename(s, kUNetResnet));
        return std::nullopt;
    }
    s = key;
    if (consume(s, "up_blocks.") && take_index(s, b) && b >= 0 && b < u.down_blocks) {
        const auto output = [&](int entry, int j) {
            return "output_blocks." + num(b * per + entry) + "." + num(j) + ".";
        };
        if (consume(s, "resnets.") && take_index(s, l))
            return prefixed(output(l, 0), unrename(s, kUNetResnet));
        if (consume(s, "attentions.") && take_index(s, l))
            return prefixed(output(l, 1), unrename(s, kUNetTransformer));
        if (consume(s, "upsamplers.0."))
            return prefixed(output(u.layers_per_block, u.up_attention[b] ? 2 : 1),
                            unrename(s, kUNetUpsampler));
    }
    return std::nullopt;
}

std::optional<Renamed> vae_unrename(std::string_view key, const LdmLayout::VAE& v)
{
    if (auto r = unrename(key, kVAETop))
        return r;
    for (const std::string_view side : {"encoder.", "decoder."}) {
        std::string_view s = key;
        if (!consume(s, side))
            continue;
        const std::string out_side(side);
        const bool encoder = side == "encoder.";
        int b = 0, j = 0;
        if (consume(s, "mid_block.")) {
            if (consume(s, "attentions.0."))
                return prefixed(out_side + "mid.attn_1.", unrename(s, kVAEAttention));
            if (consume(s, "resnets.") && take_index(s, j))
                return prefixed(out_side + "mid.block_" + num(j + 1) + ".",
                                unrename(s, kVAEResnet));
            return std::nullopt;
        }
        if (!consume(s, encoder ? "down_blocks." : "up_blocks.") || !take_index(s, b) || b < 0 ||
            b >= v.blocks)
            return std::nullopt;
        const int i = encoder ? b : v.blocks - 1 - b; // decoder levels count from the lowest
        const std::string block = out_side + (encoder ? "down." : "up.") + num(i) + ".";
        if (consume(s, "resnets.") && take_index(s, j))
            return prefixed(block + "block." + num(j) + ".", unrename(s, kVAEResnet));
        if (consume(s, encoder ? "downsamplers.0." : "upsamplers.0."))
            return prefixed(block + (encoder ? "downsample." : "upsample."),
                            unrename(s, kVAESampler));
        return std::nullopt;
    }
    return std::nullopt;
}

/// Undoes `transform` as a view of `t` (the shapes the forward rules accept).
at::Tensor invert(const at::Tensor& t, Transform transform)
{
    if (transform == Transform::ConvToLinear && t.dim() == 2)
        return t.unsqueeze(-1).unsqueeze(-1);
    if (transform == Transform::Transpose && t.dim() == 2)
        return t.t();
    return t;
}

} // namespace

LdmLayout LdmLayout::sd15()
{
    LdmLayout layout;
    layout.unet = {4, 2, {true, true, true, false}, {false, true, true, true}};
    layout.vae = {4, 2};
    return layout;
}

bool is_ignored_ldm_key(const std::string& key)
{
    const std::string_view k = key;
    if (k.starts_with("model_ema."))
        return true;
    if (k.find('.') == std::string_view::npos) {
        if (std::find(std::begin(kIgnoredTop), std::end(kIgnoredTop), k) != std::end(kIgnoredTop))
            return true;
        for (const auto prefix : kIgnoredTopPrefixes)
            if (k.starts_with(prefix))
                return true;
        return false;
    }
    const bool text = k.starts_with("cond_stage_model.") || k.starts_with("conditioner.embedders.");
    return text && (k.ends_with(".position_ids") || k.ends_with(".logit_scale"));
}

LdmLayout ldm_layout_from_keys(const std::vector<std::string>& keys, const std::string& source)
{
    std::set<int> inputs, downsamplers, input_attention, outputs, output_attention;
    std::set<int> vae_down, vae_up, vae_enc_layers, vae_dec_layers;
    for (const auto& key : keys) {
        std::string_view s = key;
        int i = 0, j = 0;
        if (consume(s, kUNetPrefix)) {
            if (consume(s, "input_blocks.") && take_index(s, i) && take_index(s, j) && i >= 1) {
                inputs.insert(i);
                if (j == 0 && s.starts_with("op."))
                    downsamplers.insert(i);
                if (j == 1)
                    input_attention.insert(i);
            } else if (consume(s, "output_blocks.") && take_index(s, i) && take_index(s, j)) {
                outputs.insert(i);
                if (j == 1 && !s.starts_with("conv."))
                    output_attention.insert(i);
            }
        } else if (consume(s, kVAEPrefix)) {
            const bool encoder = consume(s, "encoder.down.");
            if ((encoder || consume(s, "decoder.up.")) && take_index(s, i)) {
                (encoder ? vae_down : vae_up).insert(i);
                if (consume(s, "block.") && take_index(s, j))
                    (encoder ? vae_enc_layers : vae_dec_layers).insert(j);
            }
        }
    }

    LdmLayout layout;
    auto& u = layout.unet;
    if (!inputs.empty()) {
        const int count = max_or(inputs, 0); // input_blocks 1..count
        u.layers_per_block = downsamplers.empty() ? count : *downsamplers.begin() - 1;
        const int per = u.layers_per_block + 1;
        if (u.layers_per_block < 1 || (count + 1) % per != 0)
            throw ModelLoadError(with_source(
                source, "cannot infer the UNet layout: " + std::to_string(count) +
                            " model.diffusion_model.input_blocks do not form blocks of " +
                            std::to_string(per) + " (first downsampler at input_blocks." +
                            std::to_string(per) + ")"));
        u.down_blocks = (count + 1) / per;
        if (!outputs.empty() && max_or(outputs, 0) + 1 != u.down_blocks * per)
            throw ModelLoadError(
                with_source(source, "cannot infer the UNet layout: expected " +
                                        std::to_string(u.down_blocks * per) +
                                        " model.diffusion_model.output_blocks, got " +
                                        std::to_string(max_or(outputs, 0) + 1)));
        u.down_attention.assign(u.down_blocks, false);
        u.up_attention.assign(u.down_blocks, false);
        for (int i : input_attention)
            u.down_attention[std::min((i - 1) / per, u.down_blocks - 1)] = true;
        for (int i : output_attention)
            u.up_attention[std::min(i / per, u.down_blocks - 1)] = true;
    }
    auto& v = layout.vae;
    if (!vae_down.empty()) {
        v.blocks = max_or(vae_down, 0) + 1;
        v.layers_per_block = max_or(vae_enc_layers, 0) + 1;
    } else if (!vae_up.empty()) {
        v.blocks = max_or(vae_up, 0) + 1;
        v.layers_per_block = max_or(vae_dec_layers, 1); // the decoder has one more
    }
    return layout;
}

LdmLayout ldm_layout_from_keys(const StateDict& ldm, const std::string& source)
{
    std::vector<std::string> keys;
    keys.reserve(ldm.size());
    for (const auto& entry : ldm)
        keys.push_back(entry.first);
    return ldm_layout_from_keys(keys, source);
}

ComponentStateDicts convert_ldm_checkpoint(const StateDict& ldm, const LdmLayout& layout,
                                           const std::string& source)
{
    TORCH_CHECK(static_cast<int>(layout.unet.down_attention.size()) == layout.unet.down_blocks &&
                    static_cast<int>(layout.unet.up_attention.size()) == layout.unet.down_blocks,
                "LdmLayout: down_attention/up_attention need one entry per down block");
    ComponentStateDicts out;
    std::map<std::string, std::string> origin_unet, origin_vae, origin_te, origin_te2;
    int open_clip_sd2 = 0;

    const auto apply = [](const at::Tensor& t, Transform transform) -> at::Tensor {
        if (transform == Transform::ConvToLinear && t.dim() == 4 && t.size(2) == 1 &&
            t.size(3) == 1)
            return t.select(3, 0).select(2, 0); // a view; strict loading reports other shapes
        if (transform == Transform::Transpose && t.dim() == 2)
            return t.t();
        return t;
    };

    for (const auto& [key, tensor] : ldm) {
        if (is_ignored_ldm_key(key)) {
            out.ignored.push_back(key);
            continue;
        }
        std::string_view s = key;
        std::optional<Renamed> r;
        if (consume(s, kUNetPrefix)) {
            if ((r = unet_rename(s, layout.unet)))
                put(out.unet, r->name, apply(tensor, r->transform), key, origin_unet, source);
        } else if (consume(s, kVAEPrefix)) {
            if ((r = vae_rename(s, layout.vae)))
                put(out.vae, r->name, apply(tensor, r->transform), key, origin_vae, source);
        } else if (consume(s, kOpenCLIPPrefix)) {
            if ((r = open_clip_rename(s))) {
                if (r->transform != Transform::SplitQKV) {
                    put(out.text_encoder_2, r->name, apply(tensor, r->transform), key, origin_te2,
                        source);
                } else if (tensor.dim() >= 1 && tensor.size(0) % 3 == 0) {
                    // in_proj rows are [q; k; v] (torch.nn.MultiheadAttention)
                    const int64_t width = tensor.size(0) / 3;
                    const auto at = r->name.find("{}");
                    const char* parts[] = {"q", "k", "v"};
                    for (int p = 0; p < 3; ++p) {
                        std::string name = r->name;
                        name.replace(at, 2, parts[p]);
                        put(out.text_encoder_2, name, tensor.narrow(0, p * width, width), key,
                            origin_te2, source);
                    }
                } else {
                    r.reset();
                }
            }
        } else if (s.starts_with(kOpenCLIPSD2Prefix)) {
            ++open_clip_sd2;
            continue;
        } else {
            for (const auto prefix : kCLIPPrefixes) {
                if (!consume(s, prefix))
                    continue;
                if ((r = clip_rename(s)))
                    put(out.text_encoder, r->name, tensor, key, origin_te, source);
                break;
            }
        }
        if (!r)
            out.unknown.push_back(key);
    }

    if (open_clip_sd2 > 0)
        throw ModelLoadError(with_source(
            source, "the SD 2.x text encoder (OpenCLIP ViT-H, " + std::to_string(open_clip_sd2) +
                        " cond_stage_model.model.* tensors) is not supported yet\n  hint: " +
                        unsupported_model_hint(ModelKind::SD2)));
    return out;
}

ComponentStateDicts convert_ldm_checkpoint(const StateDict& ldm, const std::string& source)
{
    return convert_ldm_checkpoint(ldm, ldm_layout_from_keys(ldm, source), source);
}

LdmLayout ldm_layout_from_diffusers_keys(const ComponentStateDicts& diffusers)
{
    std::set<int> down, up, resnets, down_attention, up_attention;
    for (const auto& entry : diffusers.unet) {
        std::string_view s = entry.first;
        int b = 0, l = 0;
        const bool is_down = consume(s, "down_blocks.");
        if (!(is_down || consume(s, "up_blocks.")) || !take_index(s, b))
            continue;
        (is_down ? down : up).insert(b);
        if (s.starts_with("attentions."))
            (is_down ? down_attention : up_attention).insert(b);
        if (is_down && consume(s, "resnets.") && take_index(s, l))
            resnets.insert(l);
    }
    std::set<int> vae_down, vae_up, vae_enc_layers, vae_dec_layers;
    for (const auto& entry : diffusers.vae) {
        std::string_view s = entry.first;
        int b = 0, j = 0;
        const bool encoder = consume(s, "encoder.down_blocks.");
        if (!(encoder || consume(s, "decoder.up_blocks.")) || !take_index(s, b))
            continue;
        (encoder ? vae_down : vae_up).insert(b);
        if (consume(s, "resnets.") && take_index(s, j))
            (encoder ? vae_enc_layers : vae_dec_layers).insert(j);
    }

    LdmLayout layout;
    auto& u = layout.unet;
    u.down_blocks = std::max(max_or(down, -1), max_or(up, -1)) + 1;
    u.layers_per_block = max_or(resnets, -1) + 1;
    for (int b = 0; b < u.down_blocks; ++b) {
        u.down_attention.push_back(down_attention.count(b) != 0);
        u.up_attention.push_back(up_attention.count(b) != 0);
    }
    auto& v = layout.vae;
    v.blocks = std::max(max_or(vae_down, -1), max_or(vae_up, -1)) + 1;
    v.layers_per_block = !vae_enc_layers.empty() ? max_or(vae_enc_layers, 0) + 1
                                                 : max_or(vae_dec_layers, 0); // decoder: one more
    return layout;
}

StateDict convert_to_ldm_checkpoint(const ComponentStateDicts& diffusers, const LdmLayout& layout)
{
    TORCH_CHECK(static_cast<int>(layout.unet.down_attention.size()) == layout.unet.down_blocks &&
                    static_cast<int>(layout.unet.up_attention.size()) == layout.unet.down_blocks,
                "LdmLayout: down_attention/up_attention need one entry per down block");
    if (!diffusers.text_encoder_2.empty())
        throw ModelLoadError("cannot write an original-layout checkpoint with a text_encoder_2 "
                             "(SDXL): only SD 1.x (unet, vae, text_encoder) is supported");
    StateDict ldm;
    std::map<std::string, std::string> origin;
    std::vector<std::string> unmapped;

    // `back` renames an LDM name (without its prefix) forward again; only a name that returns to
    // `key` is used, so the tables cannot drift into something that is not an inverse.
    const auto emit = [&](const std::string& component, std::string_view prefix,
                          const std::string& key, const at::Tensor& tensor,
                          const std::optional<Renamed>& r, const auto& back) {
        const auto forward = r ? back(r->name) : std::nullopt;
        if (!forward || forward->name != key) {
            unmapped.push_back(component + "/" + key);
            return;
        }
        put(ldm, std::string(prefix) + r->name, invert(tensor, r->transform), component + "/" + key,
            origin, {});
    };
    for (const auto& [key, tensor] : diffusers.unet)
        emit("unet", kUNetPrefix, key, tensor, unet_unrename(key, layout.unet),
             [&](const std::string& name) { return unet_rename(name, layout.unet); });
    for (const auto& [key, tensor] : diffusers.vae)
        emit("vae", kVAEPrefix, key, tensor, vae_unrename(key, layout.vae),
             [&](const std::string& name) { return vae_rename(name, layout.vae); });
    // SD 1.x files spell the text_model. level out: cond_stage_model.transformer.text_model.*
    const std::string clip_prefix = std::string(kCLIPPrefixes[0]) + "text_model.";
    for (const auto& [key, tensor] : diffusers.text_encoder) {
        if (key.ends_with(".position_ids")) // a known extra, as in is_ignored_ldm_key
            continue;
        emit("text_encoder", clip_prefix, key, tensor, unrename(key, kCLIPTop),
             [](const std::string& name) { return clip_rename("text_model." + name); });
    }

    if (!unmapped.empty()) {
        std::string msg = std::to_string(unmapped.size()) +
                          " diffusers tensors have no original (LDM) SD 1.x name";
        for (size_t i = 0; i < unmapped.size() && i < 10; ++i)
            msg += "\n  unmapped: " + unmapped[i];
        if (unmapped.size() > 10)
            msg += "\n  ... and " + std::to_string(unmapped.size() - 10) + " more";
        throw ModelLoadError(msg);
    }
    return ldm;
}

} // namespace psa
