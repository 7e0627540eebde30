// SPDX-License-Identifier: GPL-3.0-or-later
// The UNet's spatial transformer (diffusers attention.py, attention_processor.py and
// transformer_2d.py, continuous input, layer_norm blocks), named like the checkpoint keys.
#pragma once
#include "tensor_io/layers.h"
#include "unet/attention_hook.h"

#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/modulelist.h>

#include <memory>

namespace psa {

/// Multi-head attention: to_q/to_k/to_v without bias, to_out.0 with bias. Self-attention when
/// built with cross_attention_dim 0. A cross-attention layer may carry an AttentionHook.
struct AttentionImpl : torch::nn::Module {
    AttentionImpl(int64_t query_dim, int64_t cross_attention_dim, int64_t heads, int64_t head_dim,
                  bool upcast_attention = false);
    /// x [B, N, query_dim]; context [B, L, cross_attention_dim] (undefined: self-attention);
    /// extra_context is handed to the hook (ignored without one). Returns [B, N, query_dim].
    at::Tensor forward(const at::Tensor& x, const at::Tensor& context = {},
                       const at::Tensor& extra_context = {});
    /// Installs (or with nullptr removes) the hook; `layer` is what the hook is told.
    void set_hook(std::shared_ptr<AttentionHook> hook, int layer);
    bool is_cross_attention() const { return cross_attention_dim > 0; }

    Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
    torch::nn::ModuleList to_out{nullptr}; // key: to_out.0.* (diffusers' to_out.1 is a Dropout)
    int64_t heads = 0, head_dim = 0, cross_attention_dim = 0;
    bool upcast_attention = false;

private:
    std::shared_ptr<AttentionHook> hook_;
    int hook_layer_ = -1;
};
TORCH_MODULE(Attention);

/// GEGLU projection: Linear(dim, 2 * inner) split into (a, b) -> a * gelu(b).
struct GEGLUImpl : torch::nn::Module {
    GEGLUImpl(int64_t dim_in, int64_t dim_out);
    at::Tensor forward(const at::Tensor& x);
    Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

/// ff.net.0 = GEGLU(dim, 4 * dim), ff.net.2 = Linear(4 * dim, dim) (net.1 is a Dropout).
struct FeedForwardImpl : torch::nn::Module {
    FeedForwardImpl(int64_t dim, int64_t mult = 4);
    at::Tensor forward(const at::Tensor& x); // [B, N, dim] -> [B, N, dim]
    std::shared_ptr<torch::nn::Module> net; // holds "0" (geglu) and "2" (out): keys net.0.proj.*, net.2.*
    GEGLU geglu{nullptr};
    Linear out{nullptr};
};
TORCH_MODULE(FeedForward);

/// Pre-LayerNorm block: self-attention, cross-attention over the text, GEGLU feed-forward,
/// each with a residual.
struct BasicTransformerBlockImpl : torch::nn::Module {
    BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim, int64_t cross_attention_dim,
                              bool upcast_attention = false);
    at::Tensor forward(const at::Tensor& x,             // [B, N, dim]
                       const at::Tensor& context,       // [B, L, cross_attention_dim]
                       const at::Tensor& extra_context = {});
    LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
    Attention attn1{nullptr}, attn2{nullptr};
    FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

struct Transformer2DOptions {
    int64_t heads = 8;
    int64_t head_dim = 40;
    int64_t in_channels = 320;
    int64_t num_layers = 1;
    int64_t cross_attention_dim = 768;
    int64_t norm_num_groups = 32;
    bool use_linear_projection = false; ///< SD 2.x: Linear proj_in/proj_out instead of 1x1 convs
    bool upcast_attention = false;
};

/// GroupNorm (eps 1e-6) -> proj_in -> transformer_blocks over the H*W tokens -> proj_out, plus
/// the input as residual. [B, C, H, W] -> [B, C, H, W].
struct Transformer2DModelImpl : torch::nn::Module {
    explicit Transformer2DModelImpl(const Transformer2DOptions& options);
    at::Tensor forward(const at::Tensor& x, const at::Tensor& context, const at::Tensor& extra_context = {});
    GroupNorm norm{nullptr};
    torch::nn::AnyModule proj_in, proj_out; // Conv2d 1x1, or Linear with use_linear_projection
    torch::nn::ModuleList transformer_blocks{nullptr};
    bool use_linear_projection = false;
    int64_t inner_dim = 0;
};
TORCH_MODULE(Transformer2DModel);

} // namespace psa
