// SPDX-License-Identifier: GPL-3.0-or-later
// A denoising loss that weights the images' objects above their background. In the demo world the
// motifs that carry the safety concepts cover a tenth of each image, while the background's texture
// (snow dots, waves, grid lines) is most of its pixels; a plain MSE spends most of a small model's
// capacity on that texture. The regions come from the captions' focus_boxes.
#pragma once
#include "pretrain/caption_image_set.h"

#include <torch/types.h>

namespace psa {

/// Per-image loss weights on a height x width grid covering the image: `weight` on the cells whose
/// centre lies inside one of the image's focus boxes, 1 on the others. [N, 1, height, width] float.
/// Throws ConfigError naming the metadata file when `weight` is not 1 and no image has focus boxes.
at::Tensor focus_weight_maps(const CaptionImageSet& data, int64_t height, int64_t width, double weight);

/// sum(weights * values) / sum(weights), the weights broadcast over the values' channels: equal to
/// the plain mean when every weight is 1, and on its scale otherwise.
at::Tensor weighted_mean(const at::Tensor& values, const at::Tensor& weights);
/// weighted_mean of (a - b)^2.
at::Tensor weighted_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& weights);

} // namespace psa
