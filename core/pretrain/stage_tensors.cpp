// SPDX-License-Identifier: GPL-3.0-or-later
// Device placement shared by both pretraining stages. Noise is drawn on the CPU generator that
// the checkpoints save and restore, then moved: the same seed gives the same draws on the CPU and
// on a GPU, and a run may resume on another device without a second kind of generator state.
#include "pretrain/stage_model.h"

#include <torch/torch.h>

namespace psa {

at::Tensor draw_on(c10::Device device, at::IntArrayRef sizes, at::Generator& gen)
{
    return torch::randn(sizes, gen, torch::kFloat).to(device);
}

at::Tensor row_index(const std::vector<int64_t>& rows, c10::Device device)
{
    return torch::tensor(rows, torch::kLong).to(device);
}

} // namespace psa
