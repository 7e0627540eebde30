// SPDX-License-Identifier: GPL-3.0-or-later
// The sampler names a person picks from (the UI's sampler list), without the torch-heavy
// schedulers header. A header of its own so that adding it recompiles one file, not every user of
// generation.h.
#pragma once
#include <string>
#include <vector>

namespace psa {

/// Every sampler as its user-facing name ("DDIM", ..., "DPM++ 2M Karras"), in a stable order;
/// sampler_from_display_name() (pipeline/generation.h) maps each back to its id.
std::vector<std::string> sampler_display_names();

} // namespace psa
