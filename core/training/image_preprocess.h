// SPDX-License-Identifier: GPL-3.0-or-later
// Training-image preprocessing as the reference's torchvision pipeline does it: Resize(shorter
// side, bilinear) -> CenterCrop -> RandomHorizontalFlip -> ToTensor -> Normalize(0.5, 0.5).
#pragma once
#include "common/image.h"

#include <ATen/core/Tensor.h>

namespace psa {

/// RGB8 -> [3, resolution, resolution] float32 CPU in [-1, 1]. The shorter side is resized to
/// `resolution` (antialiased bilinear, like PIL), the centre is cropped, `flip` mirrors left-right.
at::Tensor preprocess_training_image(const Image& image, int resolution, bool flip);

} // namespace psa
