// SPDX-License-Identifier: GPL-3.0-or-later
// Original single-file checkpoints (LDM key names): detect the model kind from the header alone,
// rename to diffusers keys (views, no copies), then strictly load as for a diffusers folder. The
// configs are SD 1.5's, adjusted to what the tensor shapes and block layout show (channels, blocks,
// attention placement, widths, layer counts) and to the hyper-parameters that files written by
// export_single_file carry in their metadata (norm groups, head counts, sample size).
#include "common/error.h"
#include "pipeline/checkpoint_export.h"
#include "pipeline/components.h"
#include "tensor_io/key_maps.h"
#include "tensor_io/layers.h"
#include "tensor_io/model_detect.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdlib>

namespace psa {

namespace fs = std::filesystem;

namespace {

fs::path find_tokenizer(const fs::path& file, const LoadModelOptions& options)
{
    std::vector<fs::path> candidates;
    if (!options.tokenizer_dir.empty())
        candidates.push_back(options.tokenizer_dir);
    candidates.push_back(file.parent_path() / "tokenizer");
    if (const char* env = std::getenv("PSA_TOKENIZER_DIR"); env && *env)
        candidates.push_back(env);
    for (const auto& c : candidates)
        if (fs::exists(c / "vocab.json") && fs::exists(c / "merges.txt"))
            return c;
    throw ModelLoadError(path_message(file.string(),
                                      "a single-file checkpoint carries no tokenizer; put a diffusers "
                                      "tokenizer/ folder (vocab.json, merges.txt) next to it, or name one "
                                      "with --tokenizer DIR or PSA_TOKENIZER_DIR"));
}

// ---- configs from the weights ----

int64_t dim_or(const StateDict& dict, const std::string& name, int64_t dim, int64_t fallback)
{
    const auto it = dict.find(name);
    return it != dict.end() && it->second.dim() > dim ? it->second.size(dim) : fallback;
}

bool any_key_starts_with(const StateDict& dict, const std::string& prefix)
{
    const auto it = dict.lower_bound(prefix);
    return it != dict.end() && it->first.starts_with(prefix);
}

UNet2DConditionConfig unet_config_from(const StateDict& unet, const LdmLayout::UNet& layout,
                                       int64_t context_width)
{
    auto c = UNet2DConditionConfig::sd15();
    c.cross_attention_dim = {context_width};
    if (layout.down_blocks == 0)
        return c;
    c.in_channels = dim_or(unet, "conv_in.weight", 1, c.in_channels);
    c.out_channels = dim_or(unet, "conv_out.weight", 0, c.out_channels);
    c.layers_per_block = {layout.layers_per_block};
    const auto defaults = c.block_out_channels;
    c.block_out_channels.clear();
    c.down_block_types.clear();
    c.up_block_types.clear();
    for (int b = 0; b < layout.down_blocks; ++b) {
        const auto i = static_cast<size_t>(b);
        c.block_out_channels.push_back(
            dim_or(unet, "down_blocks." + std::to_string(b) + ".resnets.0.conv1.weight", 0,
                   i < defaults.size() ? defaults[i] : 0));
        c.down_block_types.push_back(layout.down_attention[i] ? "CrossAttnDownBlock2D"
                                                              : "DownBlock2D");
        c.up_block_types.push_back(layout.up_attention[i] ? "CrossAttnUpBlock2D" : "UpBlock2D");
    }
    for (const auto& [name, t] : unet) {
        if (name.ends_with(".attn2.to_k.weight") && t.dim() == 2)
            c.cross_attention_dim = {t.size(1)};
        if (name.ends_with(".proj_in.weight"))
            c.use_linear_projection = t.dim() == 2;
    }
    return c;
}

AutoencoderKLConfig vae_config_from(const StateDict& vae, const LdmLayout::VAE& layout)
{
    auto c = AutoencoderKLConfig::sd15();
    if (layout.blocks == 0)
        return c;
    c.layers_per_block = layout.layers_per_block;
    const auto defaults = c.block_out_channels;
    c.block_out_channels.clear();
    for (int b = 0; b < layout.blocks; ++b) {
        const auto i = static_cast<size_t>(b);
        c.block_out_channels.push_back(
            dim_or(vae, "encoder.down_blocks." + std::to_string(b) + ".resnets.0.conv1.weight", 0,
                   i < defaults.size() ? defaults[i] : 0));
    }
    c.down_block_types.assign(c.block_out_channels.size(), "DownEncoderBlock2D");
    c.up_block_types.assign(c.block_out_channels.size(), "UpDecoderBlock2D");
    c.in_channels = dim_or(vae, "encoder.conv_in.weight", 1, c.in_channels);
    c.out_channels = dim_or(vae, "decoder.conv_out.weight", 0, c.out_channels);
    c.latent_channels = dim_or(vae, "decoder.conv_in.weight", 1, c.latent_channels);
    c.use_quant_conv = vae.count("quant_conv.weight") != 0;
    c.use_post_quant_conv = vae.count("post_quant_conv.weight") != 0;
    c.mid_block_add_attention = any_key_starts_with(vae, "encoder.mid_block.attentions.");
    return c;
}

CLIPTextConfig text_config_from(const StateDict& text)
{
    auto c = CLIPTextConfig::sd15();
    if (text.empty())
        return c;
    c.hidden_size = dim_or(text, "text_model.final_layer_norm.weight", 0, c.hidden_size);
    c.intermediate_size =
        dim_or(text, "text_model.encoder.layers.0.mlp.fc1.weight", 0, c.intermediate_size);
    c.vocab_size = dim_or(text, "text_model.embeddings.token_embedding.weight", 0, c.vocab_size);
    c.max_position_embeddings = dim_or(text, "text_model.embeddings.position_embedding.weight", 0,
                                       c.max_position_embeddings);
    int64_t layers = 0;
    while (any_key_starts_with(text, "text_model.encoder.layers." + std::to_string(layers) + "."))
        ++layers;
    if (layers > 0)
        c.num_hidden_layers = layers;
    if (c.hidden_size % 64 == 0)
        c.num_attention_heads = c.hidden_size / 64; // CLIP text towers use 64-wide heads
    return c;
}

} // namespace

std::shared_ptr<ModelComponents> load_single_file(const fs::path& file, const LoadModelOptions& options,
                                                  JobControl& job, std::shared_ptr<ModelComponents> m)
{
    const std::string what = file.string();
    job.report(Stage::Load, 0, 4, "header");
    const auto st = SafetensorsFile::open(file);
    const auto kind = detect_model_kind(st.tensors());
    if (kind != ModelKind::SD1)
        throw ModelLoadError(path_message(what, unsupported_model_hint(kind)));
    m->name = file.stem().string();
    m->kind = model_kind_name(kind);

    StateDict ldm;
    for (const auto& t : st.tensors())
        ldm[t.name] = st.tensor(t.name);
    const auto layout = ldm_layout_from_keys(ldm, what);
    auto parts = convert_ldm_checkpoint(ldm, layout, what);
    ldm.clear();
    if (!parts.unknown.empty()) {
        std::string msg = what + ": " + std::to_string(parts.unknown.size()) +
                          " tensors match no Stable Diffusion 1.x name";
        for (size_t i = 0; i < parts.unknown.size() && i < 10; ++i)
            msg += "\n  unexpected: " + parts.unknown[i];
        throw ModelLoadError(msg);
    }
    spdlog::debug("{}: ignored {} known extra tensors (EMA, schedule buffers, position ids)", what,
                  parts.ignored.size());

    m->tokenizer = std::make_shared<CLIPTokenizer>(CLIPTokenizer::from_dir(find_tokenizer(file, options)));
    m->scheduler_config = SchedulerConfig::sd15();
    m->text_config = text_config_from(parts.text_encoder);
    m->unet_config = unet_config_from(parts.unet, layout.unet, m->text_config.hidden_size);
    m->vae_config = vae_config_from(parts.vae, layout.vae);
    if (const auto it = st.metadata().find(kSingleFileConfigKey); it != st.metadata().end())
        apply_single_file_config_json(it->second, m->unet_config, m->vae_config, m->text_config,
                                      what);
    m->text_config.validate(what + " (text encoder config)");
    m->unet_config.validate(what + " (unet config)");
    m->vae_config.validate(what + " (vae config)");
    spdlog::debug("{}: configs from the weights: unet blocks {} of {} layers, vae blocks {}, text "
                  "encoder {} layers of {}",
                  what, m->unet_config.block_out_channels.size(), layout.unet.layers_per_block,
                  m->vae_config.block_out_channels.size(), m->text_config.num_hidden_layers,
                  m->text_config.hidden_size);

    job.report(Stage::Load, 1, 4, "text encoder");
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->text_encoder = CLIPTextModel(m->text_config);
    }
    load_text_encoder_weights(m->text_encoder, parts.text_encoder, what + " (text encoder)");
    parts.text_encoder.clear();
    if (job.stop_requested())
        return nullptr;

    job.report(Stage::Load, 2, 4, "unet");
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->unet = UNet2DConditionModel(m->unet_config);
    }
    load_into(*m->unet, parts.unet, what + " (unet)");
    parts.unet.clear();
    if (job.stop_requested())
        return nullptr;

    job.report(Stage::Load, 3, 4, "vae");
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->vae = AutoencoderKL(m->vae_config);
    }
    load_vae_weights(m->vae, parts.vae, what + " (vae)");
    parts.vae.clear();

    finalize_components(*m);
    job.report(Stage::Load, 4, 4, "done");
    return m;
}

} // namespace psa
