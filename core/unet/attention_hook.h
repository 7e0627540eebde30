// SPDX-License-Identifier: GPL-3.0-or-later
// The one extension point of the UNet: extra attention inside every cross-attention layer. The
// safety adapter implements it; the UNet and its blocks never know what does.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace psa {

/// Extra attention added inside every cross-attention layer (attn2), after the text attention
/// and before to_out — the way diffusers swaps attention processors. The UNet never knows what
/// implements it.
class AttentionHook {
public:
    virtual ~AttentionHook() = default;
    /// layer: index among the UNet's cross-attention layers in diffusers' attn_processors order
    /// (down_blocks..., up_blocks..., mid_block LAST). hidden: the layer's input [B, N, query_dim]
    /// (for a hook with a query map of its own). query: the layer's to_q output [B, N, inner_dim]
    /// (heads not split). extra_context: what the caller passed next to the text (e.g. user tokens
    /// [B, T, C]). Returns [B, N, inner_dim] to ADD to the text attention output, or an undefined tensor.
    virtual at::Tensor extra_attention(int layer, const at::Tensor& hidden, const at::Tensor& query,
                                       int64_t heads, const at::Tensor& extra_context) = 0;
};

/// One cross-attention layer as the hook sees it (see UNet2DConditionModelImpl::cross_attention_layers).
struct CrossAttentionLayerInfo {
    std::string name;            ///< e.g. "down_blocks.0.attentions.0.transformer_blocks.0.attn2"
    int64_t inner_dim = 0;       ///< heads * head_dim: the width of query and of the hook's result
    int64_t cross_attention_dim = 0; ///< width of the text (and extra-context) tokens
    int64_t heads = 0;
    int64_t query_dim = 0;       ///< width of the layer's input (the hidden states to_q reads)
};

} // namespace psa
