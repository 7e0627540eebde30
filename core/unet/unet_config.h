// SPDX-License-Identifier: GPL-3.0-or-later
// UNet2DConditionModel hyper-parameters under diffusers' config.json key names.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psa {

/// diffusers UNet2DConditionModel config (the subset SD 1.x/2.x use). Keys that diffusers allows as
/// "int or one per down block" are vectors here: one element applies to every block, otherwise one
/// per entry of down_block_types. Fields that exist only to be rejected keep diffusers' defaults
/// ("" stands for null); validate() says which values are supported.
struct UNet2DConditionConfig {
    int64_t sample_size = 64;
    int64_t in_channels = 4;
    int64_t out_channels = 4;
    bool center_input_sample = false;
    bool flip_sin_to_cos = true;
    int64_t freq_shift = 0;
    std::vector<std::string> down_block_types;
    std::string mid_block_type = "UNetMidBlock2DCrossAttn";
    std::vector<std::string> up_block_types;
    bool only_cross_attention = false;
    std::vector<int64_t> block_out_channels;
    std::vector<int64_t> layers_per_block{2};
    int64_t downsample_padding = 1;
    double mid_block_scale_factor = 1.0;
    std::string act_fn = "silu";
    int64_t norm_num_groups = 32;
    double norm_eps = 1e-5;
    std::vector<int64_t> cross_attention_dim{1280};
    std::vector<int64_t> transformer_layers_per_block{1};
    /// SD 1.x/2.x quirk: this is the NUMBER OF HEADS unless num_attention_heads is given.
    std::vector<int64_t> attention_head_dim{8};
    std::vector<int64_t> num_attention_heads; ///< empty: null (use attention_head_dim)
    bool dual_cross_attention = false;
    bool use_linear_projection = false;
    bool upcast_attention = false;
    int64_t time_embedding_dim = 0; ///< 0: null (4 * block_out_channels[0])
    int64_t conv_in_kernel = 3;
    int64_t conv_out_kernel = 3;
    std::string time_embedding_type = "positional";
    std::string resnet_time_scale_shift = "default";
    std::string attention_type = "default";
    std::string class_embed_type;      ///< "" = null; anything else is unsupported
    std::string addition_embed_type;   ///< "" = null; "text_time" is SDXL (not supported yet)
    std::string encoder_hid_dim_type;  ///< "" = null; anything else is unsupported

    /// The SD 1.5 UNet (runwayml/stable-diffusion-v1-5 unet/config.json).
    static UNet2DConditionConfig sd15();
    /// The fixtures' tiny-sd UNet: channels [32, 64], 2 layers per block, 8 groups, 8 heads,
    /// cross_attention_dim 32 (1.1 M parameters).
    static UNet2DConditionConfig tiny();
    /// Reads a diffusers unet/config.json. Unknown keys are ignored; throws ConfigError naming the
    /// file and key for a wrong type, and for unsupported blocks or features (SDXL, class labels, ...).
    static UNet2DConditionConfig from_json(const std::filesystem::path& path);

    /// Throws ConfigError (prefixed with `what`) when the config is inconsistent or unsupported.
    void validate(const std::string& what = "UNet config") const;

    // Per-block values (block i of down_block_types; up blocks use the mirrored index).
    int64_t heads(size_t block) const;
    int64_t layers(size_t block) const;
    int64_t cross_dim(size_t block) const;
    int64_t transformer_layers(size_t block) const;
    int64_t time_embed_dim() const;

    bool operator==(const UNet2DConditionConfig&) const = default;
};

} // namespace psa
