// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "common/image.h"

#include <string>
#include <utility>
#include <vector>

namespace psa {

/// Images side by side, each with its label in a band above it (the L0...L5 preview strip).
/// Images of different sizes are centred in cells of the largest size. Empty input -> empty image.
Image compose_labelled_strip(const std::vector<std::pair<std::string, Image>>& tiles);

} // namespace psa
