// SPDX-License-Identifier: GPL-3.0-or-later
// The AutoencoderKL encoder and decoder stacks (diffusers' autoencoders/vae.py Encoder/Decoder,
// DownEncoderBlock2D, UpDecoderBlock2D, UNetMidBlock2D without time embedding), named like the
// checkpoint keys. Private to the vae module; use autoencoder_kl.h.
#pragma once
#include "blocks/resnet_block.h"
#include "tensor_io/layers.h"
#include "vae/vae_config.h"

#include <torch/nn/modules/container/modulelist.h>

namespace psa {

/// diffusers' Attention as the VAE configures it: GroupNorm, one head as wide as the channels,
/// Linear q/k/v/out, residual added, no rescale. Half inputs attend in float32 (softmax upcast).
struct VAEAttentionImpl : torch::nn::Module {
    VAEAttentionImpl(int64_t channels, int64_t groups, double eps);
    at::Tensor forward(const at::Tensor& x); // [B, C, H, W] -> same
    GroupNorm group_norm{nullptr};
    Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
    torch::nn::ModuleList to_out{nullptr}; // key: to_out.0.* (a Linear; diffusers' Dropout is .1)
};
TORCH_MODULE(VAEAttention);

/// resnet, then (attention, resnet); the attention is absent with mid_block_add_attention false.
struct VAEMidBlockImpl : torch::nn::Module {
    VAEMidBlockImpl(int64_t channels, int64_t groups, bool add_attention);
    at::Tensor forward(const at::Tensor& x); // [B, C, H, W]
    torch::nn::ModuleList attentions{nullptr}; // VAEAttention x1 (or empty)
    torch::nn::ModuleList resnets{nullptr};    // ResnetBlock2D x2
};
TORCH_MODULE(VAEMidBlock);

struct DownEncoderBlock2DImpl : torch::nn::Module {
    DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers,
                           int64_t groups, bool add_downsample);
    at::Tensor forward(const at::Tensor& x);  // [B, C_in, H, W] -> [B, C_out, H/2, W/2] (or H, W)
    torch::nn::ModuleList resnets{nullptr};     // ResnetBlock2D x num_layers
    torch::nn::ModuleList downsamplers{nullptr}; // Downsample2D (padding 0) x1, or null
};
TORCH_MODULE(DownEncoderBlock2D);

struct UpDecoderBlock2DImpl : torch::nn::Module {
    UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers,
                         int64_t groups, bool add_upsample);
    at::Tensor forward(const at::Tensor& x);  // [B, C_in, H, W] -> [B, C_out, 2H, 2W] (or H, W)
    torch::nn::ModuleList resnets{nullptr};   // ResnetBlock2D x num_layers
    torch::nn::ModuleList upsamplers{nullptr}; // Upsample2D x1, or null
};
TORCH_MODULE(UpDecoderBlock2D);

/// Image -> 2*latent_channels moments (mean and logvar stacked on channels), before quant_conv.
struct VAEEncoderImpl : torch::nn::Module {
    explicit VAEEncoderImpl(const AutoencoderKLConfig& config);
    at::Tensor forward(const at::Tensor& image); // [B, in, H, W] -> [B, 2*latent, H/f, W/f]
    Conv2d conv_in{nullptr};
    torch::nn::ModuleList down_blocks{nullptr};
    VAEMidBlock mid_block{nullptr};
    GroupNorm conv_norm_out{nullptr};
    Conv2d conv_out{nullptr};
};
TORCH_MODULE(VAEEncoder);

/// Latents (after post_quant_conv) -> image.
struct VAEDecoderImpl : torch::nn::Module {
    explicit VAEDecoderImpl(const AutoencoderKLConfig& config);
    at::Tensor forward(const at::Tensor& z); // [B, latent, h, w] -> [B, out, h*f, w*f]
    Conv2d conv_in{nullptr};
    torch::nn::ModuleList up_blocks{nullptr};
    VAEMidBlock mid_block{nullptr};
    GroupNorm conv_norm_out{nullptr};
    Conv2d conv_out{nullptr};
};
TORCH_MODULE(VAEDecoder);

} // namespace psa
