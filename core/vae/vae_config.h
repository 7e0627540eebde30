// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psa {

/// Hyper-parameters of diffusers' AutoencoderKL; field names are its `config.json` keys. Only the
/// SD-family architecture is supported: DownEncoderBlock2D / UpDecoderBlock2D, SiLU.
struct AutoencoderKLConfig {
    int64_t in_channels = 3;
    int64_t out_channels = 3;
    int64_t latent_channels = 4;
    std::vector<int64_t> block_out_channels{128, 256, 512, 512};
    std::vector<std::string> down_block_types = std::vector<std::string>(4, "DownEncoderBlock2D");
    std::vector<std::string> up_block_types = std::vector<std::string>(4, "UpDecoderBlock2D");
    int64_t layers_per_block = 2;   ///< encoder resnets per block; the decoder has one more
    int64_t norm_num_groups = 32;
    double scaling_factor = 0.18215; ///< latents_scaled = latents * scaling_factor
    int64_t sample_size = 512;       ///< training resolution in pixels (informational)
    bool mid_block_add_attention = true;
    bool use_quant_conv = true;
    bool use_post_quant_conv = true;
    bool force_upcast = true;        ///< the VAE should run in float32 even in fp16 pipelines

    /// SD1.5's vae/config.json (83,653,863 parameters; downsamples by 8).
    static AutoencoderKLConfig sd15();
    /// A test model: channels 8/16, one resnet per block, 2 groups (downsamples by 2).
    static AutoencoderKLConfig tiny();
    /// Reads a diffusers config.json. Throws ConfigError naming the file and the key for a
    /// missing required key (block_out_channels, down_block_types, up_block_types), a wrong JSON
    /// type or an unsupported value.
    static AutoencoderKLConfig from_json(const std::filesystem::path& path);

    /// Throws ConfigError ("<where>: <key> ...") when the values cannot build a model.
    void validate(const std::string& where) const;
    /// Pixels per latent along each side: 2^(number of blocks - 1).
    int64_t downsample_factor() const;
};

} // namespace psa
