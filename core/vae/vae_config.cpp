// SPDX-License-Identifier: GPL-3.0-or-later
// Defaults follow diffusers' AutoencoderKL.__init__ except for the block lists, which must be
// present (diffusers' one-block default never matches a real checkpoint).
#include "vae/vae_config.h"

#include "common/error.h"
#include "common/json_fields.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <optional>

namespace psa {


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
    const nlohmann::json j = read_json_object_file(path);
    const JsonFields f{j, path.string()};
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
