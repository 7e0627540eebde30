// SPDX-License-Identifier: GPL-3.0-or-later
// Convolutional building blocks shared by the UNet and the VAE (diffusers' resnet.py and
// downsampling/upsampling.py), named like their checkpoint keys.
#pragma once
#include "tensor_io/layers.h"

namespace psa {

struct ResnetBlock2DOptions {
    int64_t in_channels = 0;
    int64_t out_channels = 0;     // 0: same as in_channels
    int64_t temb_channels = 0;    // 0: no time embedding (the VAE)
    int64_t groups = 32;
    double eps = 1e-6;
    double output_scale_factor = 1.0;
};

/// GroupNorm-SiLU-conv twice, with the time embedding added between, plus a 1x1 shortcut when
/// the channel count changes.
struct ResnetBlock2DImpl : torch::nn::Module {
    explicit ResnetBlock2DImpl(const ResnetBlock2DOptions& options);
    at::Tensor forward(const at::Tensor& x,               // [B, C_in, H, W]
                       const at::Tensor& temb = {});      // [B, temb_channels] or undefined
    GroupNorm norm1{nullptr}, norm2{nullptr};
    Conv2d conv1{nullptr}, conv2{nullptr};
    Linear time_emb_proj{nullptr};                        // only with temb_channels > 0
    Conv2d conv_shortcut{nullptr};                        // only when C_in != C_out
    double output_scale_factor = 1.0;
};
TORCH_MODULE(ResnetBlock2D);

/// Stride-2 3x3 conv. `padding` 1 (UNet), or 0 with an asymmetric (0, 1, 0, 1) pad first (VAE).
struct Downsample2DImpl : torch::nn::Module {
    Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding);
    at::Tensor forward(const at::Tensor& x);
    Conv2d conv{nullptr};
    int64_t padding = 1;
};
TORCH_MODULE(Downsample2D);

/// Nearest-neighbour x2 (or to `size`) then a 3x3 conv.
struct Upsample2DImpl : torch::nn::Module {
    Upsample2DImpl(int64_t channels, int64_t out_channels);
    at::Tensor forward(const at::Tensor& x, at::IntArrayRef size = {});
    Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

} // namespace psa
