// SPDX-License-Identifier: GPL-3.0-or-later
// An optional term of the adapter's loss that teaches each concept's place to read its own
// category's user token.
//
// With one token per category, what an allowed motif keeps depends on which tokens its place
// attends to. `psa world routing` shows the adapters trained without this term routing softly:
// at a motif's place the user attention spreads over all seven tokens, its own category's getting
// 0.13-0.31 where an even spread gives 0.14, so a banned token's value reaches the motifs of
// allowed categories (docs/demo-model.md, "Nineteenth round"). DPO only rewards the outcome and
// leaves the routing to chance. The trainer knows where each pair's concept is (the cells where
// the pair's images differ) and its category, so it can ask for the routing directly: this term is
// the cross-entropy of the user attention there against the pair category's token.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace psa {

/// Rows and columns of a cross-attention layer's grid with `cells` positions in a UNet whose
/// latent is latent_h x latent_w: each level halves both sides, rounding up as a stride-2
/// convolution with padding 1 does. Throws InvalidRequest when no level has that many cells.
std::pair<int64_t, int64_t> attention_grid(int64_t cells, int64_t latent_h, int64_t latent_w);

/// weights: per layer [2B, heads, N, T] user-attention weights (SafetyAdapterImpl::record_routing)
/// with the rows as [winning; losing]. place: [B, 1, h, w] in [0, 1], where each pair's concept is
/// drawn (1 - pair_agreement_mask), used for both halves. token: [B] int64, the token of each
/// pair's category. rows: [B] 0/1, the pairs that count (undefined: all).
/// Returns the mean over layers of the place-weighted mean, over both halves' cells and the
/// heads, of -log(weight on the pair's token); 0 when no counted pair has a place.
at::Tensor routing_cross_entropy(const std::vector<at::Tensor>& weights, const at::Tensor& place,
                                 const at::Tensor& token, const at::Tensor& rows = {});

/// The routing term of an adapter with a sink token (index `sink`): the cross-entropy above at
/// each pair's place (1 - agreement) against its token, plus the same over the cells where the
/// pair agrees against the sink, since there the pair asks the adapter for nothing.
at::Tensor routing_cross_entropy_with_sink(const std::vector<at::Tensor>& weights, const at::Tensor& agreement,
                                           const at::Tensor& token, int64_t sink, const at::Tensor& rows = {});

} // namespace psa
