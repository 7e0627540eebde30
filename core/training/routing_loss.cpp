// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/routing_loss.h"

#include "common/error.h"

#include <torch/torch.h>

namespace psa {

std::pair<int64_t, int64_t> attention_grid(int64_t cells, int64_t latent_h, int64_t latent_w)
{
    int64_t h = latent_h, w = latent_w;
    while (h * w > cells && (h > 1 || w > 1)) {
        h = (h + 1) / 2;
        w = (w + 1) / 2;
    }
    if (h * w != cells)
        throw InvalidRequest("a cross-attention layer of " + std::to_string(cells) +
                             " cells does not fit a " + std::to_string(latent_h) + "x" +
                             std::to_string(latent_w) + " latent");
    return {h, w};
}

at::Tensor routing_cross_entropy(const std::vector<at::Tensor>& weights, const at::Tensor& place,
                                 const at::Tensor& token, const at::Tensor& rows)
{
    TORCH_CHECK(!weights.empty(), "routing_cross_entropy: no layer's weights");
    TORCH_CHECK(place.dim() == 4 && place.size(1) == 1,
                "routing_cross_entropy: place must be [B, 1, h, w]");
    const int64_t b = place.size(0);
    TORCH_CHECK(token.dim() == 1 && token.size(0) == b, "routing_cross_entropy: token must be [B]");
    auto counted = place.to(torch::kFloat);
    if (rows.defined())
        counted = counted * rows.to(counted.options()).view({b, 1, 1, 1});
    const auto tokens2 = torch::cat({token, token}).to(torch::kLong);
    at::Tensor total;
    for (const auto& w : weights) {
        TORCH_CHECK(w.dim() == 4 && w.size(0) == 2 * b,
                    "routing_cross_entropy: weights must be [2B, heads, N, T]");
        const int64_t heads = w.size(1), n = w.size(2);
        const auto [gh, gw] = attention_grid(n, place.size(2), place.size(3));
        // The share of each of the layer's cells that lies on the concept.
        const auto cell_place = torch::adaptive_avg_pool2d(counted, {gh, gw}).reshape({b, n});
        const auto both = torch::cat({cell_place, cell_place}).to(w.device()); // [2B, N]
        const auto index =
            tokens2.to(w.device()).view({2 * b, 1, 1, 1}).expand({2 * b, heads, n, 1});
        const auto on_token = w.to(torch::kFloat).gather(3, index).squeeze(3); // [2B, heads, N]
        const auto nll = -on_token.clamp_min(1e-6).log().mean(1);              // [2B, N]
        const auto layer = (nll * both).sum() / both.sum().clamp_min(1e-6);
        total = total.defined() ? total + layer : layer;
    }
    return total / static_cast<double>(weights.size());
}

at::Tensor routing_cross_entropy_with_sink(const std::vector<at::Tensor>& weights, const at::Tensor& agreement,
                                           const at::Tensor& token, int64_t sink, const at::Tensor& rows)
{
    return routing_cross_entropy(weights, 1.0 - agreement, token, rows) +
           routing_cross_entropy(weights, agreement, torch::full_like(token, sink), rows);
}

} // namespace psa
