// SPDX-License-Identifier: GPL-3.0-or-later
#include "pretrain/focus_weights.h"

#include <torch/torch.h>

namespace psa {

at::Tensor focus_weight_maps(const CaptionImageSet& data, int64_t height, int64_t width, double weight)
{
    const auto n = static_cast<int64_t>(data.size());
    auto maps = torch::ones({n, 1, height, width}, torch::kFloat);
    auto m = maps.accessor<float, 4>();
    for (int64_t i = 0; i < n; ++i)
        for (const auto& box : data.items()[static_cast<size_t>(i)].focus_boxes)
            for (int64_t y = 0; y < height; ++y) {
                const double cy = (y + 0.5) / height;
                if (cy < box.y0 || cy > box.y1)
                    continue;
                for (int64_t x = 0; x < width; ++x) {
                    const double cx = (x + 0.5) / width;
                    if (cx >= box.x0 && cx <= box.x1)
                        m[i][0][y][x] = static_cast<float>(weight);
                }
            }
    return maps;
}

at::Tensor weighted_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& weights)
{
    const auto w = weights.expand_as(a);
    return (w * (a - b).pow(2)).sum() / w.sum();
}

} // namespace psa
