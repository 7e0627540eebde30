// SPDX-License-Identifier: GPL-3.0-or-later
// config.json reading follows diffusers 0.30 UNet2DConditionModel.__init__: ints that may be lists
// are broadcast per down block, and num_attention_heads falls back to attention_head_dim (the
// SD 1.x naming quirk). Features whose modules are not ported are rejected here, loudly.
#include "unet/unet_config.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

namespace psa {

namespace {

using nlohmann::json;

const std::set<std::string> kDownBlocks{"CrossAttnDownBlock2D", "DownBlock2D"};
const std::set<std::string> kUpBlocks{"UpBlock2D", "CrossAttnUpBlock2D"};

// "integer 3", "string \"x\"", "null", ... (appends rather than `"..." + dump()`, which trips a
// GCC 12 -Wstringop-overflow false positive).
std::string type_name(const json& v)
{
    std::string out;
    if (v.is_number_integer() || v.is_number_unsigned())
        out = "integer";
    else if (v.is_number_float())
        out = "number";
    else
        out = v.type_name();
    if (!v.is_null()) {
        out += ' ';
        out += v.dump().substr(0, 40);
    }
    return out;
}

// Reads typed keys of one config file; every error names the file and the key.
class Reader {
public:
    Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

    [[noreturn]] void fail(const std::string& key, const std::string& message) const
    {
        throw ConfigError(path_message(path_, key + ": " + message));
    }
    [[noreturn]] void wrong_type(const std::string& key, const std::string& expected, const json& got) const
    {
        fail(key, "expected " + expected + ", got " + type_name(got));
    }
    // A value present and not null.
    const json* find(const std::string& key) const
    {
        const auto it = j_.find(key);
        return it == j_.end() || it->is_null() ? nullptr : &*it;
    }

    static bool is_int(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

    void get(const std::string& key, int64_t& out) const
    {
        if (const json* v = find(key)) {
            if (!is_int(*v))
                wrong_type(key, "an integer", *v);
            out = v->get<int64_t>();
        }
    }
    void get(const std::string& key, double& out) const
    {
        if (const json* v = find(key)) {
            if (!v->is_number())
                wrong_type(key, "a number", *v);
            out = v->get<double>();
        }
    }
    void get(const std::string& key, bool& out) const
    {
        if (const json* v = find(key)) {
            if (!v->is_boolean())
                wrong_type(key, "true or false", *v);
            out = v->get<bool>();
        }
    }
    void get(const std::string& key, std::string& out) const
    {
        if (const json* v = find(key)) {
            if (!v->is_string())
                wrong_type(key, "a string", *v);
            out = v->get<std::string>();
        }
    }
    void get(const std::string& key, std::vector<std::string>& out) const
    {
        if (const json* v = find(key)) {
            if (!v->is_array())
                wrong_type(key, "a list of strings", *v);
            out.clear();
            for (const auto& e : *v) {
                if (!e.is_string())
                    wrong_type(key, "a list of strings", *v);
                out.push_back(e.get<std::string>());
            }
        }
    }
    /// An integer or a list of integers (one per down block).
    void get(const std::string& key, std::vector<int64_t>& out) const
    {
        if (const json* v = find(key)) {
            if (is_int(*v)) {
                out = {v->get<int64_t>()};
                return;
            }
            if (!v->is_array() || v->empty())
                wrong_type(key, "an integer or a list of integers", *v);
            out.clear();
            for (const auto& e : *v) {
                if (e.is_array())
                    fail(key, "nested lists (per-layer values, as in SDXL refiners) are not supported");
                if (!is_int(e))
                    wrong_type(key, "an integer or a list of integers", *v);
                out.push_back(e.get<int64_t>());
            }
        }
    }
    /// A key whose only supported value is null (or absent) or `allowed`.
    void require_default(const std::string& key, const json& allowed, const std::string& hint) const
    {
        if (const json* v = find(key); v && *v != allowed)
            fail(key, type_name(*v) + " is not supported" + (hint.empty() ? "" : " (" + hint + ")"));
    }

private:
    const json& j_;
    std::string path_;
};

int64_t per_block(const std::vector<int64_t>& v, size_t i) { return v.size() == 1 ? v[0] : v.at(i); }

} // namespace

UNet2DConditionConfig UNet2DConditionConfig::sd15()
{
    UNet2DConditionConfig c;
    c.sample_size = 64;
    c.down_block_types = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"};
    c.up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"};
    c.block_out_channels = {320, 640, 1280, 1280};
    c.layers_per_block = {2};
    c.norm_num_groups = 32;
    c.cross_attention_dim = {768};
    c.attention_head_dim = {8};
    return c;
}

UNet2DConditionConfig UNet2DConditionConfig::tiny()
{
    UNet2DConditionConfig c;
    c.sample_size = 8;
    c.down_block_types = {"CrossAttnDownBlock2D", "DownBlock2D"};
    c.up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D"};
    c.block_out_channels = {32, 64};
    c.layers_per_block = {2};
    c.norm_num_groups = 8;
    c.cross_attention_dim = {32};
    c.attention_head_dim = {8};
    return c;
}

UNet2DConditionConfig UNet2DConditionConfig::from_json(const std::filesystem::path& path)
{
    const std::string where = path.string();
    std::ifstream in(path);
    if (!in)
        throw ConfigError(path_message(where, "cannot open the UNet config"));
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        throw ConfigError(path_message(where, std::string("not valid JSON: ") + e.what()));
    }
    if (!j.is_object())
        throw ConfigError(path_message(where, "expected a JSON object, got " + type_name(j)));
    const Reader r(j, where);

    UNet2DConditionConfig c;
    r.get("sample_size", c.sample_size);
    r.get("in_channels", c.in_channels);
    r.get("out_channels", c.out_channels);
    r.get("center_input_sample", c.center_input_sample);
    r.get("flip_sin_to_cos", c.flip_sin_to_cos);
    r.get("freq_shift", c.freq_shift);
    r.get("down_block_types", c.down_block_types);
    r.get("up_block_types", c.up_block_types);
    if (const auto it = j.find("mid_block_type"); it != j.end() && it->is_null())
        r.fail("mid_block_type", "null (no mid block) is not supported");
    r.get("mid_block_type", c.mid_block_type);
    if (const auto* v = r.find("only_cross_attention")) {
        if (v->is_array()) {
            for (const auto& e : *v)
                if (!e.is_boolean())
                    r.wrong_type("only_cross_attention", "true/false or a list of them", *v);
            c.only_cross_attention = std::any_of(v->begin(), v->end(), [](const json& e) { return e.get<bool>(); });
        } else {
            r.get("only_cross_attention", c.only_cross_attention);
        }
    }
    r.get("block_out_channels", c.block_out_channels);
    r.get("layers_per_block", c.layers_per_block);
    r.get("downsample_padding", c.downsample_padding);
    r.get("mid_block_scale_factor", c.mid_block_scale_factor);
    r.get("act_fn", c.act_fn);
    if (const auto it = j.find("norm_num_groups"); it != j.end() && it->is_null())
        r.fail("norm_num_groups", "null (no output GroupNorm) is not supported");
    r.get("norm_num_groups", c.norm_num_groups);
    r.get("norm_eps", c.norm_eps);
    r.get("cross_attention_dim", c.cross_attention_dim);
    r.get("transformer_layers_per_block", c.transformer_layers_per_block);
    r.get("attention_head_dim", c.attention_head_dim);
    r.get("num_attention_heads", c.num_attention_heads);
    r.get("dual_cross_attention", c.dual_cross_attention);
    r.get("use_linear_projection", c.use_linear_projection);
    r.get("upcast_attention", c.upcast_attention);
    r.get("time_embedding_dim", c.time_embedding_dim);
    r.get("conv_in_kernel", c.conv_in_kernel);
    r.get("conv_out_kernel", c.conv_out_kernel);
    r.get("time_embedding_type", c.time_embedding_type);
    r.get("resnet_time_scale_shift", c.resnet_time_scale_shift);
    r.get("attention_type", c.attention_type);
    r.get("class_embed_type", c.class_embed_type);
    r.get("addition_embed_type", c.addition_embed_type);
    r.get("encoder_hid_dim_type", c.encoder_hid_dim_type);

    // Keys that only matter for modules not ported; their diffusers defaults are the only values
    // accepted. (dropout, resnet_skip_time_act, resnet_out_scale_factor, addition_time_embed_dim,
    // addition_embed_type_num_heads and projection_class_embeddings_input_dim do not affect the
    // supported blocks, or are rejected through the feature that uses them.)
    r.require_default("time_cond_proj_dim", nullptr, "LCM-style guidance embedding");
    r.require_default("num_class_embeds", nullptr, "class-conditional UNets");
    r.require_default("timestep_post_act", nullptr, "");
    r.require_default("time_embedding_act_fn", nullptr, "");
    r.require_default("encoder_hid_dim", nullptr, "");
    r.require_default("cross_attention_norm", nullptr, "");
    r.require_default("class_embeddings_concat", false, "");
    r.require_default("reverse_transformer_layers_per_block", nullptr, "SDXL refiner layouts");
    r.require_default("mid_block_only_cross_attention", false, "");

    c.validate(where);
    return c;
}

void UNet2DConditionConfig::validate(const std::string& what) const
{
    auto fail = [&](const std::string& key, const std::string& message) {
        throw ConfigError(path_message(what, key + ": " + message));
    };
    const size_t n = down_block_types.size();
    if (n == 0)
        fail("down_block_types", "must name at least one block");
    if (block_out_channels.size() != n)
        fail("block_out_channels", std::to_string(block_out_channels.size()) + " entries for " +
                                       std::to_string(n) + " down blocks");
    if (up_block_types.size() != n)
        fail("up_block_types", std::to_string(up_block_types.size()) + " entries for " +
                                   std::to_string(n) + " down blocks");
    for (const auto& t : down_block_types)
        if (!kDownBlocks.count(t))
            fail("down_block_types", "\"" + t + "\" is not supported (supported: CrossAttnDownBlock2D, DownBlock2D)");
    for (const auto& t : up_block_types)
        if (!kUpBlocks.count(t))
            fail("up_block_types", "\"" + t + "\" is not supported (supported: UpBlock2D, CrossAttnUpBlock2D)");
    if (mid_block_type != "UNetMidBlock2DCrossAttn")
        fail("mid_block_type", "\"" + mid_block_type + "\" is not supported (supported: UNetMidBlock2DCrossAttn)");
    if (!addition_embed_type.empty())
        fail("addition_embed_type", "\"" + addition_embed_type +
                                        "\" is not supported: this is an SDXL-style UNet (SDXL support comes later)");
    if (!class_embed_type.empty())
        fail("class_embed_type", "\"" + class_embed_type + "\" is not supported (class-conditional UNet)");
    if (!encoder_hid_dim_type.empty())
        fail("encoder_hid_dim_type", "\"" + encoder_hid_dim_type + "\" is not supported");
    if (time_embedding_type != "positional")
        fail("time_embedding_type", "\"" + time_embedding_type + "\" is not supported (supported: positional)");
    if (resnet_time_scale_shift != "default")
        fail("resnet_time_scale_shift", "\"" + resnet_time_scale_shift + "\" is not supported (supported: default)");
    if (attention_type != "default")
        fail("attention_type", "\"" + attention_type + "\" is not supported (supported: default)");
    if (act_fn != "silu")
        fail("act_fn", "\"" + act_fn + "\" is not supported (supported: silu)");
    if (only_cross_attention)
        fail("only_cross_attention", "true is not supported");
    if (dual_cross_attention)
        fail("dual_cross_attention", "true is not supported");

    auto check_list = [&](const std::string& key, const std::vector<int64_t>& v, bool allow_empty) {
        if (v.empty() && allow_empty)
            return;
        if (v.size() != 1 && v.size() != n)
            fail(key, std::to_string(v.size()) + " entries; expected one, or one per down block (" +
                          std::to_string(n) + ")");
        for (const auto x : v)
            if (x <= 0)
                fail(key, "values must be positive, got " + std::to_string(x));
    };
    check_list("layers_per_block", layers_per_block, false);
    check_list("cross_attention_dim", cross_attention_dim, false);
    check_list("transformer_layers_per_block", transformer_layers_per_block, false);
    check_list("attention_head_dim", attention_head_dim, false);
    check_list("num_attention_heads", num_attention_heads, true);
    for (auto [key, v] : {std::pair{"in_channels", in_channels}, {"out_channels", out_channels},
                          {"norm_num_groups", norm_num_groups}, {"conv_in_kernel", conv_in_kernel},
                          {"conv_out_kernel", conv_out_kernel}})
        if (v <= 0)
            fail(key, "must be positive, got " + std::to_string(v));
    if (time_embedding_dim < 0)
        fail("time_embedding_dim", "must be positive, got " + std::to_string(time_embedding_dim));
    for (size_t i = 0; i < n; ++i) {
        const int64_t ch = block_out_channels[i];
        if (ch <= 0 || ch % norm_num_groups != 0)
            fail("block_out_channels", std::to_string(ch) + " channels cannot be split into norm_num_groups = " +
                                           std::to_string(norm_num_groups) + " groups");
        if (heads(i) > ch)
            fail("attention_head_dim", std::to_string(heads(i)) + " heads exceed the " + std::to_string(ch) +
                                           " channels of block " + std::to_string(i) +
                                           " (SD 1.x configs give the NUMBER of heads here)");
    }
}

int64_t UNet2DConditionConfig::heads(size_t block) const
{
    return per_block(num_attention_heads.empty() ? attention_head_dim : num_attention_heads, block);
}
int64_t UNet2DConditionConfig::layers(size_t block) const { return per_block(layers_per_block, block); }
int64_t UNet2DConditionConfig::cross_dim(size_t block) const { return per_block(cross_attention_dim, block); }
int64_t UNet2DConditionConfig::transformer_layers(size_t block) const
{
    return per_block(transformer_layers_per_block, block);
}
int64_t UNet2DConditionConfig::time_embed_dim() const
{
    return time_embedding_dim > 0 ? time_embedding_dim : 4 * block_out_channels.at(0);
}

} // namespace psa
