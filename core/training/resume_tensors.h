// SPDX-License-Identifier: GPL-3.0-or-later
// The tensors a checkpoint keeps besides the weights, so that a resumed run continues bit for bit:
// AdamW's per-parameter moments and steps, the torch CPU generator and the data order. Shared by
// DPO runs (core/training) and demo-model pretraining (core/pretrain).
#pragma once
#include "tensor_io/safetensors.h"

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace psa {

/// Parameters by name, in the order they were given to the optimizer.
using NamedParameters = std::vector<std::pair<std::string, at::Tensor>>;

/// Appends "optim.<name>.exp_avg", ".exp_avg_sq", ".max_exp_avg_sq" (AMSGrad only) and ".step"
/// (int64) for every parameter that has optimizer state yet; copies to the CPU.
void append_adamw_state(NamedTensors& out, torch::optim::AdamW& optimizer, const NamedParameters& params);

/// Replaces the optimizer's state with the one stored by append_adamw_state(); parameters with no
/// stored ".step" start fresh. ModelLoadError naming `file` for a missing moment or a shape that
/// differs from the parameter's.
void load_adamw_state(const SafetensorsFile& file, torch::optim::AdamW& optimizer, const NamedParameters& params);

/// Appends "rng.torch_cpu" (the generator's state) and "data.order" (int64).
void append_random_state(NamedTensors& out, at::Generator& generator, const std::vector<int64_t>& order);

/// Restores what append_random_state() stored; ModelLoadError naming `file` when it is absent.
void load_random_state(const SafetensorsFile& file, at::Generator& generator, std::vector<int64_t>& order);

} // namespace psa
