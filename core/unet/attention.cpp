// SPDX-License-Identifier: GPL-3.0-or-later
// Ported from the behaviour of diffusers 0.30 Attention + AttnProcessor (attention_processor.py),
// GEGLU/FeedForward/BasicTransformerBlock (attention.py, activations.py) and Transformer2DModel
// (transformers/transformer_2d.py, continuous input). The hook point sits where diffusers'
// custom processors (e.g. PSAlign's PSAAttnProcessor) add their extra attention: after the
// text attention is merged back to [B, N, inner], before to_out.
#include "unet/attention.h"

#include "tensor_io/attention_kernel.h"

#include <torch/torch.h>

namespace psa {

AttentionImpl::AttentionImpl(int64_t query_dim, int64_t cross_dim, int64_t heads_, int64_t head_dim_,
                             bool upcast)
    : heads(heads_), head_dim(head_dim_), cross_attention_dim(cross_dim), upcast_attention(upcast)
{
    const int64_t inner = heads * head_dim;
    const int64_t context_dim = cross_dim > 0 ? cross_dim : query_dim;
    to_q = register_module("to_q", Linear(query_dim, inner, false));
    to_k = register_module("to_k", Linear(context_dim, inner, false));
    to_v = register_module("to_v", Linear(context_dim, inner, false));
    to_out = register_module("to_out", torch::nn::ModuleList());
    to_out->push_back(Linear(inner, query_dim, true));
}

void AttentionImpl::set_hook(std::shared_ptr<AttentionHook> hook, int layer)
{
    hook_ = std::move(hook);
    hook_layer_ = hook_ ? layer : -1;
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& context, const at::Tensor& extra_context)
{
    const auto& ctx = context.defined() ? context : x;
    const int64_t batch = x.size(0);
    const auto query = to_q(x); // [B, N, inner]
    auto split = [&](const at::Tensor& t) { // [B, L, inner] -> [B, H, L, D]
        return t.view({batch, -1, heads, head_dim}).transpose(1, 2);
    };
    auto q = split(query), k = split(to_k(ctx)), v = split(to_v(ctx));
    const auto dtype = q.scalar_type();
    // upcast_attention (SD 2.1) computes the scores in float32 for half models.
    const bool upcast = upcast_attention && dtype != torch::kFloat && dtype != torch::kDouble;
    if (upcast) {
        q = q.to(torch::kFloat);
        k = k.to(torch::kFloat);
        v = v.to(torch::kFloat);
    }
    auto out = psa::scaled_dot_product_attention(q, k, v); // [B, H, N, D]
    if (upcast)
        out = out.to(dtype);
    out = out.transpose(1, 2).reshape({batch, -1, heads * head_dim}); // [B, N, inner]
    if (hook_ && extra_context.defined()) {
        const auto extra = hook_->extra_attention(hook_layer_, x, query, heads, extra_context);
        if (extra.defined())
            out = out + extra;
    }
    return to_out[0]->as<LinearImpl>()->forward(out);
}

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out)
{
    proj = register_module("proj", Linear(dim_in, dim_out * 2));
}

at::Tensor GEGLUImpl::forward(const at::Tensor& x)
{
    const auto parts = proj(x).chunk(2, -1);
    return parts[0] * torch::gelu(parts[1]);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t mult)
{
    const int64_t inner = dim * mult;
    net = register_module("net", std::make_shared<torch::nn::Module>());
    geglu = net->register_module("0", GEGLU(dim, inner));
    out = net->register_module("2", Linear(inner, dim));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) { return out(geglu(x)); }

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim,
                                                     int64_t cross_attention_dim, bool upcast)
{
    norm1 = register_module("norm1", LayerNorm(dim, 1e-5));
    attn1 = register_module("attn1", Attention(dim, 0, heads, head_dim, upcast));
    norm2 = register_module("norm2", LayerNorm(dim, 1e-5));
    attn2 = register_module("attn2", Attention(dim, cross_attention_dim, heads, head_dim, upcast));
    norm3 = register_module("norm3", LayerNorm(dim, 1e-5));
    ff = register_module("ff", FeedForward(dim));
}

at::Tensor BasicTransformerBlockImpl::forward(const at::Tensor& x, const at::Tensor& context,
                                              const at::Tensor& extra_context)
{
    auto h = attn1(norm1(x)) + x;
    h = attn2(norm2(h), context, extra_context) + h;
    return ff(norm3(h)) + h;
}

Transformer2DModelImpl::Transformer2DModelImpl(const Transformer2DOptions& o)
    : use_linear_projection(o.use_linear_projection), inner_dim(o.heads * o.head_dim)
{
    norm = register_module("norm", GroupNorm(o.norm_num_groups, o.in_channels, 1e-6));
    if (use_linear_projection)
        proj_in = torch::nn::AnyModule(Linear(o.in_channels, inner_dim));
    else
        proj_in = torch::nn::AnyModule(Conv2d(o.in_channels, inner_dim, 1));
    register_module("proj_in", proj_in.ptr());
    transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.num_layers; ++i)
        transformer_blocks->push_back(
            BasicTransformerBlock(inner_dim, o.heads, o.head_dim, o.cross_attention_dim, o.upcast_attention));
    if (use_linear_projection)
        proj_out = torch::nn::AnyModule(Linear(inner_dim, o.in_channels));
    else
        proj_out = torch::nn::AnyModule(Conv2d(inner_dim, o.in_channels, 1));
    register_module("proj_out", proj_out.ptr());
}

at::Tensor Transformer2DModelImpl::forward(const at::Tensor& x, const at::Tensor& context,
                                           const at::Tensor& extra_context)
{
    const int64_t b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
    auto h = norm(x);
    if (use_linear_projection) {
        h = h.permute({0, 2, 3, 1}).reshape({b, height * width, c}); // [B, HW, C]
        h = proj_in.forward(h);
    } else {
        h = proj_in.forward(h);
        h = h.permute({0, 2, 3, 1}).reshape({b, height * width, inner_dim}); // [B, HW, inner]
    }
    for (const auto& block : *transformer_blocks)
        h = block->as<BasicTransformerBlockImpl>()->forward(h, context, extra_context);
    if (use_linear_projection) {
        h = proj_out.forward(h);
        h = h.reshape({b, height, width, c}).permute({0, 3, 1, 2}).contiguous();
    } else {
        h = h.reshape({b, height, width, inner_dim}).permute({0, 3, 1, 2}).contiguous();
        h = proj_out.forward(h);
    }
    return h + x;
}

} // namespace psa
