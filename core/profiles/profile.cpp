// SPDX-License-Identifier: GPL-3.0-or-later
#include "profiles/profile.h"

#include "profiles/ban_rules.h"

#include <algorithm>
#include <set>

namespace psa {

const std::vector<std::string>& gender_values()
{
    static const std::vector<std::string> v = {"female", "male"};
    return v;
}
const std::vector<std::string>& religion_values()
{
    static const std::vector<std::string> v = {"None", "Christianity", "Islam", "Buddhism"};
    return v;
}
const std::vector<std::string>& physical_condition_values()
{
    static const std::vector<std::string> v = {"healthy", "visual impairment", "hearing impairment",
                                               "intellectual disability"};
    return v;
}
const std::vector<std::string>& mental_condition_values()
{
    static const std::vector<std::string> v = {"healthy", "depression", "anxiety", "war",
                                               "sexual assault", "major accidents", "natural disasters"};
    return v;
}
const std::vector<std::string>& age_group_values()
{
    static const std::vector<std::string> v = {"infants & toddlers", "children", "adolescents",
                                               "young adults", "middle-aged", "young elderly",
                                               "elderly", "long-lived elderly"};
    return v;
}

std::string age_group_for_age(int age)
{
    static const int upper[] = {3, 12, 19, 34, 59, 74, 89};
    const auto& groups = age_group_values();
    for (size_t i = 0; i < std::size(upper); ++i)
        if (age <= upper[i])
            return groups[i];
    return groups.back();
}

const CategoryBan* SafetyProfile::ban(const std::string& category) const
{
    for (const auto& b : bans)
        if (b.category == category)
            return &b;
    return nullptr;
}

CategoryBan* SafetyProfile::ban(const std::string& category)
{
    return const_cast<CategoryBan*>(static_cast<const SafetyProfile*>(this)->ban(category));
}

bool SafetyProfile::is_banned(const std::string& category) const
{
    const auto* b = ban(category);
    return b && b->banned;
}

std::vector<std::string> SafetyProfile::banned_categories() const
{
    std::vector<std::string> out;
    for (const auto& b : bans)
        if (b.banned)
            out.push_back(b.category);
    return out;
}

void SafetyProfile::set_banned_by_person(const std::string& category, bool banned)
{
    auto* b = ban(category);
    if (!b) {
        bans.push_back({category, banned, {}, false});
        b = &bans.back();
    }
    const auto rule = decide_category(*this, category);
    b->banned = banned;
    b->overridden = banned != rule.banned;
    b->reason = rule.reason;
}

std::vector<FieldError> validate_profile(const SafetyProfile& p, const CategorySet& categories)
{
    std::vector<FieldError> errors;
    const auto one_of = [&](const char* field, const std::string& value, const std::vector<std::string>& allowed) {
        if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
            std::string list;
            for (const auto& a : allowed)
                list += (list.empty() ? "" : ", ") + a;
            errors.push_back({field, "\"" + value + "\" is not one of: " + list});
        }
    };
    if (p.name.empty())
        errors.push_back({"name", "a profile needs a name"});
    if (p.age < kMinAge || p.age > kMaxAge)
        errors.push_back({"age", std::to_string(p.age) + " is outside " + std::to_string(kMinAge) + "-" +
                                     std::to_string(kMaxAge)});
    one_of("age_group", p.age_group, age_group_values());
    one_of("gender", p.gender, gender_values());
    one_of("religion", p.religion, religion_values());
    one_of("physical_condition", p.physical_condition, physical_condition_values());
    one_of("mental_condition", p.mental_condition, mental_condition_values());
    std::set<std::string> seen;
    for (const auto& b : p.bans) {
        if (!categories.contains(b.category))
            errors.push_back({"bans." + b.category, "unknown category \"" + b.category + "\""});
        else if (!seen.insert(b.category).second)
            errors.push_back({"bans." + b.category, "category listed twice"});
    }
    for (const auto& c : categories.all())
        if (!seen.count(c.id) && categories.contains(c.id) && !p.ban(c.id))
            errors.push_back({"bans." + c.id, "no ban state for category \"" + c.id + "\""});
    return errors;
}

} // namespace psa
