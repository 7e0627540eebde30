// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace psa {

struct ModelComponents;

/// Tokenizes (pad/truncate to the tokenizer's max length, 77) and encodes prompts into
/// [N, 77, D] text context on the model's device and dtype. A prompt longer than the limit is
/// truncated as SD does, with a warning appended to `warnings` (and logged).
at::Tensor encode_prompts(ModelComponents& model, const std::vector<std::string>& prompts,
                          int clip_skip, std::vector<std::string>* warnings = nullptr);

} // namespace psa
