// SPDX-License-Identifier: GPL-3.0-or-later
#include "adapter/caption_routed_tokens.h"

#include "adapter/safety_adapter.h"
#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace psa {

namespace {

double rms(const at::Tensor& t) { return t.numel() == 0 ? 0.0 : t.pow(2).mean().sqrt().item<double>(); }

} // namespace

CaptionTokenStart caption_category_tokens(const std::vector<at::Tensor>& caption_embeddings)
{
    CaptionTokenStart start;
    std::vector<at::Tensor> means(caption_embeddings.size());
    std::vector<at::Tensor> per_caption; // [N_c, D] each
    int64_t width = -1;
    for (size_t c = 0; c < caption_embeddings.size(); ++c) {
        const auto& e = caption_embeddings[c];
        if (!e.defined() || e.numel() == 0) {
            ++start.categories_without_captions;
            continue;
        }
        if (e.dim() != 3 || (width >= 0 && e.size(2) != width))
            throw InvalidRequest("caption token start: category " + std::to_string(c) +
                                 "'s caption embeddings are not [captions, positions, " +
                                 (width >= 0 ? std::to_string(width) : std::string("width")) + "]");
        width = e.size(2);
        const auto caption_means = e.to(torch::kFloat).mean(1); // [N_c, D]
        per_caption.push_back(caption_means);
        means[c] = caption_means.mean(0);
    }
    if (per_caption.empty())
        throw InvalidRequest("caption token start: no category has a caption to start its token from");
    std::vector<at::Tensor> present;
    for (const auto& m : means)
        if (m.defined())
            present.push_back(m);
    const auto category_means = torch::stack(present); // [C', D]
    const auto common = category_means.mean(0);
    start.common = common;
    const double between = rms(category_means - common);
    const double within = rms(torch::cat(per_caption) - common);
    // Never shrink the differences; with one category (or identical ones) there is none to scale.
    start.contrast_scale = between > 0 ? std::max(1.0, within / between) : 1.0;
    std::vector<at::Tensor> tokens;
    for (const auto& m : means)
        tokens.push_back(m.defined() ? common + start.contrast_scale * (m - common) : common.clone());
    start.tokens = torch::stack(tokens);
    return start;
}

void start_user_tokens_at(SafetyAdapterImpl& adapter, const at::Tensor& tokens,
                          const std::vector<at::Tensor>& text_key_weights)
{
    auto& projection = *adapter.user_proj;
    const int64_t count = projection.num_tokens, width = projection.cross_dim;
    if (tokens.dim() != 2 || tokens.size(0) != count || tokens.size(1) != width)
        throw InvalidRequest("caption token start: " + std::to_string(tokens.dim() == 2 ? tokens.size(0) : -1) +
                             " tokens of width " + std::to_string(tokens.dim() == 2 ? tokens.size(1) : -1) +
                             " for an adapter of " + std::to_string(count) + " tokens of width " +
                             std::to_string(width));
    auto& layers = *adapter.psa_adapter;
    if (text_key_weights.size() != layers.size())
        throw InvalidRequest("caption token start: " + std::to_string(text_key_weights.size()) +
                             " text key maps for an adapter of " + std::to_string(layers.size()) + " layers");
    torch::NoGradGuard no_grad;
    const auto t = tokens.to(torch::kFloat);
    // LayerNorm(t_c) = gain * (t_c - mean_c) / std_c + shift. With the gain the tokens' average
    // spread and the shift their average mean, it returns each token nearly as it is (exactly
    // when all tokens share one mean and spread).
    const auto mean = t.mean(1, true);
    const auto spread = ((t - mean).pow(2).mean(1, true) + projection.norm->eps).sqrt();
    projection.norm->weight.fill_(spread.mean().item<double>());
    projection.norm->bias.fill_(mean.mean().item<double>());
    projection.proj->bias.copy_(t.reshape({-1}).to(projection.proj->bias.options()));
    for (size_t l = 0; l < layers.size(); ++l) {
        auto& key = layers[l]->as<AdapterLayerImpl>()->k->weight;
        const auto& text_key = text_key_weights[l];
        if (!text_key.defined() || text_key.sizes() != key.sizes())
            throw InvalidRequest("caption token start: layer " + std::to_string(l) + "'s text key map is not " +
                                 std::to_string(key.size(0)) + " x " + std::to_string(key.size(1)));
        key.copy_(text_key.to(key.options()));
    }
}

} // namespace psa
