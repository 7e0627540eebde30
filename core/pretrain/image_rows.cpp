// SPDX-License-Identifier: GPL-3.0-or-later
// The pretraining images, decoded once into one uint8 tensor (a 64 px image is 12 KiB, so tens of
// thousands fit in memory) with the same resize/crop as the DPO trainer.
#include "common/error.h"
#include "common/progress.h"
#include "pretrain/caption_image_set.h"
#include "pretrain/stage_model.h"
#include "tensor_io/image_tensor.h"
#include "training/image_preprocess.h"

#include <torch/torch.h>

namespace psa {

at::Tensor load_image_rows(const CaptionImageSet& data, int resolution, JobControl& job)
{
    const auto n = static_cast<int64_t>(data.size());
    auto out = torch::empty({n, 3, resolution, resolution}, torch::kUInt8); // [N, 3, R, R]
    for (int64_t i = 0; i < n; ++i) {
        const auto& item = data.items()[static_cast<size_t>(i)];
        Image image;
        try {
            image = load_image(item.image);
        } catch (const IoError& e) {
            throw IoError(data.metadata_path().string() + ":" + std::to_string(item.line) + ": " + e.what());
        }
        const auto t = preprocess_training_image(image, resolution, false); // [3, R, R] in [-1, 1]
        out[i].copy_(((t + 1.0) * 127.5).round().clamp(0, 255).to(torch::kUInt8));
        if ((i + 1) % 256 == 0 || i + 1 == n)
            job.report(Stage::Load, static_cast<int>(i + 1), static_cast<int>(n), "images");
    }
    return out;
}

at::Tensor rows_to_unit_range(const at::Tensor& rows_u8)
{
    return rows_u8.to(torch::kFloat).div(127.5).sub(1.0);
}

} // namespace psa
