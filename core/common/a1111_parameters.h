// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace psa {

/// The `parameters` text that AUTOMATIC1111-style tools write into PNGs:
///   <prompt lines>
///   Negative prompt: <negative lines>
///   Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ...
/// Values holding a comma, colon or quote are written in double quotes with \" escapes.
struct A1111Parameters {
    std::string prompt;
    std::string negative_prompt;
    std::vector<std::pair<std::string, std::string>> fields; // in written order

    std::optional<std::string> field(const std::string& key) const;
};

std::string format_a1111_parameters(const A1111Parameters& parameters);
/// Never throws: text without a settings line is all prompt.
A1111Parameters parse_a1111_parameters(const std::string& text);

} // namespace psa
