// SPDX-License-Identifier: GPL-3.0-or-later
#include "pretrain/focus_weights.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace psa {

namespace {

// The cells k of an n-cell axis whose centres (k + 0.5) / n lie in [lo, hi], as [first, end).
std::pair<int64_t, int64_t> cells_within(double lo, double hi, int64_t n)
{
    const auto first = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(lo * n - 0.5)));
    const auto end = std::min<int64_t>(n, static_cast<int64_t>(std::floor(hi * n - 0.5)) + 1);
    return {first, std::max(first, end)};
}

} // namespace

at::Tensor focus_weight_maps(const CaptionImageSet& data, int64_t height, int64_t width, double weight)
{
    if (weight != 1.0 && !data.has_focus_boxes())
        throw ConfigError(path_message(data.metadata_path().string(),
                                       "focus_weight " + std::to_string(weight) +
                                           " needs \"focus_boxes\" in the metadata, and no line has "
                                           "them (a world from an older psa: generate it again)"));
    auto maps = torch::ones({static_cast<int64_t>(data.size()), 1, height, width}, torch::kFloat);
    for (size_t i = 0; i < data.size(); ++i)
        for (const auto& box : data.items()[i].focus_boxes) {
            const auto [y0, y1] = cells_within(box.y0, box.y1, height);
            const auto [x0, x1] = cells_within(box.x0, box.x1, width);
            maps[static_cast<int64_t>(i)].slice(1, y0, y1).slice(2, x0, x1).fill_(weight);
        }
    return maps;
}

at::Tensor weighted_mean(const at::Tensor& values, const at::Tensor& weights)
{
    const auto w = weights.expand_as(values);
    return (w * values).sum() / w.sum();
}

at::Tensor weighted_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& weights)
{
    return weighted_mean((a - b).pow(2), weights);
}

} // namespace psa
