// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "common/image.h"
#include "tensor_io/png_text.h"

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <vector>

namespace psa {

/// [3, H, W] float in [0, 1] (any device) -> RGB8, values clamped and rounded half-to-even (what
/// diffusers' numpy path does). Throws c10::Error on a wrong shape.
Image tensor_to_image(const at::Tensor& chw01);
/// [B, 3, H, W] -> B images.
std::vector<Image> tensor_to_images(const at::Tensor& bchw01);
/// RGB8 -> [3, H, W] float32 in [0, 1] on the CPU.
at::Tensor image_to_tensor(const Image& image);

/// Reads PNG/JPEG/WebP/BMP... via OpenCV as RGB8. Throws IoError naming the path.
Image load_image(const std::filesystem::path& path);
/// Writes by extension (.png, .jpg/.jpeg, .webp) atomically; text entries go into PNG text chunks
/// (ignored, with no error, for formats without them). Throws IoError naming the path.
void save_image(const std::filesystem::path& path, const Image& image,
                const PngTextEntries& png_text = {}, int quality = 95);
/// The PNG text chunks of a file (empty for non-PNG files). Throws IoError naming the path.
std::map<std::string, std::string> read_image_text(const std::filesystem::path& path);

} // namespace psa
