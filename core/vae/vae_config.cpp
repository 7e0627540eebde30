// SPDX-License-Identifier: GPL-3.0-or-later
// Defaults follow diffusers' AutoencoderKL.__init__ except for the block lists, which must be
// present (diffusers' one-block default never matches a real checkpoint).
#include "vae/vae_config.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <optional>

namespace psa {

namespace {

using json = nlohmann::json;

json read_config_file(const std::filesystem::path& path)
{
    std::ifstream in(path);
    if (!in)
        throw ConfigError(path_message(path.string(), "cannot open the config file"));
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        throw ConfigError(path_message(path.string(), std::string("not valid JSON: ") + e.what()));
    }
    if (!j.is_object())
        throw ConfigError(path_message(path.string(), "expected a JSON object at the top level"));
    return j;
}

std::string short_dump(const json& v)
{
    auto s = v.dump();
    return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// A JSON object read key by key; every fault names the file and the key.
struct Fields {
    const json& j;
    std::string where;

    const json* find(const char* key) const
    {
        const auto it = j.find(key);
        return it == j.end() || it->is_null() ? nullptr : &*it;
    }
    [[noreturn]] void wrong(const char* key, const char* expected, const json& v) const
    {
        throw ConfigError(path_message(where, std::string("\"") + key + "\": expected " + expected +
                                                  ", got " + v.type_name() + " " + short_dump(v)));
    }
    [[noreturn]] void missing(const char* key) const
    {
        throw ConfigError(path_message(where, std::string("missing required key \"") + key + "\""));
    }
    int64_t integer(const char* key, int64_t fallback) const
    {
        const json* v = find(key);
        if (!v)
            return fallback;
        if (!v->is_number_integer())
            wrong(key, "an integer", *v);
        return v->get<int64_t>();
    }
    double number(const char* key, double fallback) const
    {
        const json* v = find(key);
        if (!v)
            return fallback;
        if (!v->is_number())
            wrong(key, "a number", *v);
        return v->get<double>();
    }
    bool boolean(const char* key, bool fallback) const
    {
        const json* v = find(key);
        if (!v)
            return fallback;
        if (!v->is_boolean())
            wrong(key, "true or false", *v);
        return v->get<bool>();
    }
    std::string string(const char* key, const std::string& fallback) const
    {
        const json* v = find(key);
        if (!v)
            return fallback;
        if (!v->is_string())
            wrong(key, "a string", *v);
        return v->get<std::string>();
    }
    std::vector<int64_t> integers(const char* key) const
    {
        const json* v = find(key);
        if (!v)
            missing(key);
        if (!v->is_array())
            wrong(key, "an array of integers", *v);
        std::vector<int64_t> out;
        for (const auto& e : *v) {
            if (!e.is_number_integer())
                wrong(key, "an array of integers", *v);
            out.push_back(e.get<int64_t>());
        }
        return out;
    }
    std::vector<std::string> strings(const char* key) const
    {
        const json* v = find(key);
        if (!v)
            missing(key);
        if (!v->is_array())
            wrong(key, "an array of strings", *v);
        std::vector<std::string> out;
        for (const auto& e : *v) {
            if (!e.is_string())
                wrong(key, "an array of strings", *v);
            out.push_back(e.get<std::string>());
        }
        return out;
    }
};

} // namespace

AutoencoderKLConfig AutoencoderKLConfig::sd15() { return {}; }

AutoencoderKLConfig AutoencoderKLConfig::tiny()
{
    AutoencoderKLConfig c;
    c.block_out_channels = {8, 16};
    c.down_block_types.assign(2, "DownEncoderBlock2D");
    c.up_block_types.assign(2, "UpDecoderBlock2D");
    c.layers_per_block = 1;
    c.norm_num_groups = 2;
    c.sample_size = 16;
    return c;
}

AutoencoderKLConfig AutoencoderKLConfig::from_json(const std::filesystem::path& path)
{
    const json j = read_config_file(path);
    const Fields f{j, path.string()};
    AutoencoderKLConfig c;
    c.in_channels = f.integer("in_channels", c.in_channels);
    c.out_channels = f.integer("out_channels", c.out_channels);
    c.latent_channels = f.integer("latent_channels", c.latent_channels);
    c.block_out_channels = f.integers("block_out_channels");
    c.down_block_types = f.strings("down_block_types");
    c.up_block_types = f.strings("up_block_types");
    c.layers_per_block = f.integer("layers_per_block", 1);
    c.norm_num_groups = f.integer("norm_num_groups", c.norm_num_groups);
    c.scaling_factor = f.number("scaling_factor", c.scaling_factor);
    c.sample_size = f.integer("sample_size", 32);
    c.mid_block_add_attention = f.boolean("mid_block_add_attention", c.mid_block_add_attention);
    c.use_quant_conv = f.boolean("use_quant_conv", c.use_quant_conv);
    c.use_post_quant_conv = f.boolean("use_post_quant_conv", c.use_post_quant_conv);
    c.force_upcast = f.boolean("force_upcast", c.force_upcast);
    const auto act_fn = f.string("act_fn", "silu");
    if (act_fn != "silu")
        throw ConfigError(path_message(path.string(), "\"act_fn\": \"" + act_fn + "\" is not supported (silu)"));
    c.validate(path.string());
    return c;
}

void AutoencoderKLConfig::validate(const std::string& where) const
{
    const auto fail = [&](const std::string& msg) { throw ConfigError(path_message(where, msg)); };
    const auto positive = [&](const char* key, int64_t v) {
        if (v <= 0)
            fail(std::string("\"") + key + "\" must be positive, got " + std::to_string(v));
    };
    positive("in_channels", in_channels);
    positive("out_channels", out_channels);
    positive("latent_channels", latent_channels);
    positive("layers_per_block", layers_per_block);
    positive("norm_num_groups", norm_num_groups);
    if (block_out_channels.empty())
        fail("\"block_out_channels\" is empty");
    for (const auto ch : block_out_channels)
        if (ch <= 0 || ch % norm_num_groups != 0)
            fail("\"block_out_channels\" entry " + std::to_string(ch) +
                 " is not a positive multiple of \"norm_num_groups\" " + std::to_string(norm_num_groups));
    if (down_block_types.size() != block_out_channels.size())
        fail("\"down_block_types\" has " + std::to_string(down_block_types.size()) + " entries, \"block_out_channels\" " +
             std::to_string(block_out_channels.size()));
    if (up_block_types.size() != block_out_channels.size())
        fail("\"up_block_types\" has " + std::to_string(up_block_types.size()) + " entries, \"block_out_channels\" " +
             std::to_string(block_out_channels.size()));
    for (const auto& t : down_block_types)
        if (t != "DownEncoderBlock2D")
            fail("\"down_block_types\": \"" + t + "\" is not supported (DownEncoderBlock2D)");
    for (const auto& t : up_block_types)
        if (t != "UpDecoderBlock2D")
            fail("\"up_block_types\": \"" + t + "\" is not supported (UpDecoderBlock2D)");
    if (!(scaling_factor > 0))
        fail("\"scaling_factor\" must be positive");
}

int64_t AutoencoderKLConfig::downsample_factor() const
{
    return int64_t(1) << (block_out_channels.size() - 1);
}

} // namespace psa
