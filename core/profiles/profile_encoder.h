// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "profiles/profile.h"

#include <string>
#include <vector>

namespace psa {

/// Our deterministic profile encoder ("structured", version 1): a documented feature vector in
/// place of the reference's 7B-LLM embedding. Layout, for C categories in CategorySet order:
///   [0, C)        ban strength per category: 1 banned, 0 allowed
///   C             age / 100
///   C+1 .. C+8    age group one-hot (age_group_values() order)
///   C+9 .. C+10   gender one-hot
///   C+11 .. C+14  religion one-hot
///   C+15 .. C+18  physical condition one-hot
///   C+19 .. C+25  mental condition one-hot
/// dim = C + 26. Unknown values leave their one-hot block all zero.
struct StructuredProfileEncoder {
    static constexpr const char* kName = "structured";
    static constexpr const char* kVersion = "1";
    static int dim(const CategorySet& categories);
    static std::vector<float> encode(const SafetyProfile& profile, const CategorySet& categories);
    /// Index of the first attribute feature (== number of categories).
    static int attribute_offset(const CategorySet& categories) { return static_cast<int>(categories.size()); }
};

} // namespace psa
