// SPDX-License-Identifier: GPL-3.0-or-later
#include "profiles/profile_encoder.h"

#include <algorithm>

namespace psa {

namespace {

void one_hot(std::vector<float>& out, const std::string& value, const std::vector<std::string>& values)
{
    for (const auto& v : values)
        out.push_back(v == value ? 1.0f : 0.0f);
}

} // namespace

int StructuredProfileEncoder::dim(const CategorySet& categories)
{
    return static_cast<int>(categories.size() + 1 + age_group_values().size() + gender_values().size() +
                            religion_values().size() + physical_condition_values().size() +
                            mental_condition_values().size());
}

std::vector<float> StructuredProfileEncoder::encode(const SafetyProfile& p, const CategorySet& categories)
{
    std::vector<float> out;
    out.reserve(static_cast<size_t>(dim(categories)));
    for (const auto& c : categories.all())
        out.push_back(p.is_banned(c.id) ? 1.0f : 0.0f);
    out.push_back(static_cast<float>(std::clamp(p.age, kMinAge, kMaxAge)) / 100.0f);
    one_hot(out, p.age_group, age_group_values());
    one_hot(out, p.gender, gender_values());
    one_hot(out, p.religion, religion_values());
    one_hot(out, p.physical_condition, physical_condition_values());
    one_hot(out, p.mental_condition, mental_condition_values());
    return out;
}

} // namespace psa
