// SPDX-License-Identifier: GPL-3.0-or-later
// The UNet's down, mid and up blocks (diffusers unets/unet_2d_blocks.py), named like their
// checkpoint keys: attentions.N, resnets.N, downsamplers.0 / upsamplers.0.
#pragma once
#include "blocks/resnet_block.h"
#include "tensor_io/layers.h"

#include <torch/nn/modules/container/modulelist.h>

#include <vector>

namespace psa {

/// What the UNet derives for one block from its config (diffusers get_down_block/get_up_block).
struct UNetBlockOptions {
    int64_t in_channels = 0;         ///< down: block input; up: skip width of the last resnet
    int64_t out_channels = 0;
    int64_t prev_output_channel = 0; ///< up blocks: width coming from the block below
    int64_t temb_channels = 0;
    int64_t num_layers = 1;          ///< resnets (up blocks: layers_per_block + 1)
    int64_t transformer_layers = 1;  ///< BasicTransformerBlocks per Transformer2DModel
    int64_t heads = 8;               ///< head size = out_channels / heads
    int64_t cross_attention_dim = 768;
    int64_t groups = 32;
    double eps = 1e-5;
    bool add_sampler = true;         ///< Downsample2D / Upsample2D after the layers
    int64_t downsample_padding = 1;
    bool use_linear_projection = false;
    bool upcast_attention = false;
    double output_scale_factor = 1.0; ///< resnets of the mid block (mid_block_scale_factor)
};

/// Resnets (each followed by a Transformer2DModel in the cross-attention variant), then an optional
/// stride-2 downsampler. x [B, C_in, H, W] -> [B, C_out, H', W']; every layer output and the
/// downsampled output are appended to `skips` for the up path.
struct UNetDownBlockImpl : torch::nn::Module {
    at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                       const at::Tensor& extra_context, std::vector<at::Tensor>& skips);
    torch::nn::ModuleList attentions{nullptr};   // CrossAttnDownBlock2D only
    torch::nn::ModuleList resnets{nullptr};
    torch::nn::ModuleList downsamplers{nullptr}; // absent on the last block

protected:
    void build(const UNetBlockOptions& options, bool cross_attention);
};

struct CrossAttnDownBlock2DImpl : UNetDownBlockImpl {
    explicit CrossAttnDownBlock2DImpl(const UNetBlockOptions& options) { build(options, true); }
};
TORCH_MODULE(CrossAttnDownBlock2D);

struct DownBlock2DImpl : UNetDownBlockImpl {
    explicit DownBlock2DImpl(const UNetBlockOptions& options) { build(options, false); }
};
TORCH_MODULE(DownBlock2D);

/// resnets.0, then (attentions.i, resnets.i+1) pairs; keeps [B, C, H, W].
struct UNetMidBlock2DCrossAttnImpl : torch::nn::Module {
    explicit UNetMidBlock2DCrossAttnImpl(const UNetBlockOptions& options);
    at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                       const at::Tensor& extra_context = {});
    torch::nn::ModuleList attentions{nullptr};
    torch::nn::ModuleList resnets{nullptr};
};
TORCH_MODULE(UNetMidBlock2DCrossAttn);

/// Each resnet takes cat([x, skip], 1) with the skip popped from the back of `skips` (then a
/// Transformer2DModel in the cross-attention variant); then an optional nearest-x2 upsampler,
/// to `upsample_size` when given (odd input sizes).
struct UNetUpBlockImpl : torch::nn::Module {
    at::Tensor forward(const at::Tensor& x, std::vector<at::Tensor>& skips, const at::Tensor& temb,
                       const at::Tensor& context, const at::Tensor& extra_context,
                       at::IntArrayRef upsample_size = {});
    torch::nn::ModuleList attentions{nullptr}; // CrossAttnUpBlock2D only
    torch::nn::ModuleList resnets{nullptr};
    torch::nn::ModuleList upsamplers{nullptr}; // absent on the last block

protected:
    void build(const UNetBlockOptions& options, bool cross_attention);
};

struct CrossAttnUpBlock2DImpl : UNetUpBlockImpl {
    explicit CrossAttnUpBlock2DImpl(const UNetBlockOptions& options) { build(options, true); }
};
TORCH_MODULE(CrossAttnUpBlock2D);

struct UpBlock2DImpl : UNetUpBlockImpl {
    explicit UpBlock2DImpl(const UNetBlockOptions& options) { build(options, false); }
};
TORCH_MODULE(UpBlock2D);

} // namespace psa
