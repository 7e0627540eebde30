// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/image_preprocess.h"

#include "tensor_io/image_tensor.h"

#include <torch/torch.h>

#include <cmath>

namespace psa {

at::Tensor preprocess_training_image(const Image& image, int resolution, bool flip)
{
    TORCH_CHECK(resolution > 0, "preprocess_training_image: resolution must be positive");
    auto t = image_to_tensor(image); // [3, H, W] in [0, 1]
    const int64_t h = t.size(1), w = t.size(2);
    TORCH_CHECK(h > 0 && w > 0, "preprocess_training_image: empty image");
    if (std::min(h, w) != resolution) {
        // torchvision Resize(int): the shorter side becomes `resolution`, the longer one
        // int(resolution * long / short) (truncated).
        const int64_t nh = h <= w ? resolution : static_cast<int64_t>(resolution * static_cast<double>(h) / w);
        const int64_t nw = w <= h ? resolution : static_cast<int64_t>(resolution * static_cast<double>(w) / h);
        namespace F = torch::nn::functional;
        t = F::interpolate(t.unsqueeze(0), F::InterpolateFuncOptions()
                                               .size(std::vector<int64_t>{nh, nw})
                                               .mode(torch::kBilinear)
                                               .align_corners(false)
                                               .antialias(true))
                .squeeze(0)
                .clamp(0, 1);
    }
    // CenterCrop: offsets int(round((size - crop) / 2)).
    const int64_t top = static_cast<int64_t>(std::round((t.size(1) - resolution) / 2.0));
    const int64_t left = static_cast<int64_t>(std::round((t.size(2) - resolution) / 2.0));
    t = t.slice(1, top, top + resolution).slice(2, left, left + resolution);
    if (flip)
        t = t.flip({2});
    return (t * 2.0 - 1.0).contiguous(); // [3, R, R]
}

} // namespace psa
