// SPDX-License-Identifier: GPL-3.0-or-later
// The conditional denoising UNet of Stable Diffusion 1.x/2.x (diffusers UNet2DConditionModel).
#pragma once
#include "tensor_io/layers.h"
#include "unet/attention_hook.h"
#include "unet/unet_config.h"

#include <torch/nn/modules/container/modulelist.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace psa {

struct UNetMidBlock2DCrossAttnImpl;
struct UNetDownBlockImpl;
struct UNetUpBlockImpl;
struct AttentionImpl;

/// Sinusoidal timestep features ("time_proj"; no parameters), computed in float32.
struct TimestepsImpl : torch::nn::Module {
    TimestepsImpl(int64_t dim, bool flip_sin_to_cos, double freq_shift);
    at::Tensor forward(const at::Tensor& timesteps); // [B] any dtype -> [B, dim] float32
    int64_t dim = 0;
    bool flip_sin_to_cos = true;
    double freq_shift = 0;
};
TORCH_MODULE(Timesteps);

/// linear_1 -> SiLU -> linear_2 ("time_embedding").
struct TimestepEmbeddingImpl : torch::nn::Module {
    TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim);
    at::Tensor forward(const at::Tensor& x);
    Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

/// Parameters are named like diffusers' unet/diffusion_pytorch_model.safetensors. Build under
/// ParamInitScope(Empty) before a load_into, or (Meta) to list names and shapes. Throws
/// ConfigError for an invalid config.
struct UNet2DConditionModelImpl : torch::nn::Module {
    explicit UNet2DConditionModelImpl(const UNet2DConditionConfig& config);

    /// Predicted noise [B, out_channels, H, W] for sample [B, in_channels, H, W] (any H, W).
    /// timestep: 0-d, [1] or [B], integer or float (broadcast to the batch).
    /// encoder_hidden_states: [B, L, cross_attention_dim]. extra_context is passed to the attention
    /// hook (if any) of every cross-attention layer. With `intermediates`, also records time_proj,
    /// time_embedding, conv_in, down_blocks.i, mid_block, up_blocks.i and conv_norm_out.
    at::Tensor forward(const at::Tensor& sample, const at::Tensor& timestep,
                       const at::Tensor& encoder_hidden_states, const at::Tensor& extra_context = {},
                       std::map<std::string, at::Tensor>* intermediates = nullptr);

    /// Every attn2 in diffusers' attn_processors order: down_blocks..., up_blocks..., mid_block last.
    std::vector<CrossAttentionLayerInfo> cross_attention_layers() const;
    /// Each cross-attention layer's text query (to_q) or key (to_k) map weight, in the order of
    /// cross_attention_layers(): where an adapter's own user maps can start.
    enum class TextAttentionMap { Query, Key };
    std::vector<at::Tensor> text_attention_weights(TextAttentionMap map) const;
    /// Installs the hook on every cross-attention layer (layer i is told index i); nullptr removes it.
    void set_attention_hook(std::shared_ptr<AttentionHook> hook);
    const std::shared_ptr<AttentionHook>& attention_hook() const { return hook_; }

    const UNet2DConditionConfig& config() const { return config_; }

    Conv2d conv_in{nullptr};
    Timesteps time_proj{nullptr};
    TimestepEmbedding time_embedding{nullptr};
    torch::nn::ModuleList down_blocks{nullptr}; // CrossAttnDownBlock2D / DownBlock2D
    torch::nn::ModuleList up_blocks{nullptr};   // UpBlock2D / CrossAttnUpBlock2D
    std::shared_ptr<UNetMidBlock2DCrossAttnImpl> mid_block;
    GroupNorm conv_norm_out{nullptr};
    Conv2d conv_out{nullptr};

private:
    UNet2DConditionConfig config_;
    std::vector<std::shared_ptr<UNetDownBlockImpl>> down_;
    std::vector<std::shared_ptr<UNetUpBlockImpl>> up_;
    std::vector<std::pair<std::string, std::shared_ptr<AttentionImpl>>> cross_layers_;
    std::shared_ptr<AttentionHook> hook_;
};
TORCH_MODULE(UNet2DConditionModel);

} // namespace psa
