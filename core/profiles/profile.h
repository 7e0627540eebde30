// SPDX-License-Identifier: GPL-3.0-or-later
// A person's safety profile: who they are, and per category whether it is kept out and why.
#pragma once
#include "profiles/categories.h"

#include <optional>
#include <string>
#include <vector>

namespace psa {

/// The attribute value sets of the Sage users (PSA.md).
const std::vector<std::string>& gender_values();
const std::vector<std::string>& religion_values();           // "None" = no religion
const std::vector<std::string>& physical_condition_values(); // "healthy" first
const std::vector<std::string>& mental_condition_values();   // "healthy" first
const std::vector<std::string>& age_group_values();          // youngest first
/// Sage's age bands: infants & toddlers 0-3, children 4-12, adolescents 13-19, young adults 20-34,
/// middle-aged 35-59, young elderly 60-74, elderly 75-89, long-lived elderly 90-100.
std::string age_group_for_age(int age);
constexpr int kMinAge = 0;
constexpr int kMaxAge = 100;

/// Whether one category is kept out, and why.
struct CategoryBan {
    std::string category;   // Category::id
    bool banned = false;
    std::string reason;     // the rule that decided it ("under 18"); empty when none did
    bool overridden = false; // the person changed what the rules said
};

struct SafetyProfile {
    static constexpr int kFormatVersion = 1;
    std::string name;
    int age = 30;
    std::string age_group;            // derived from age unless age_group_overridden
    bool age_group_overridden = false;
    std::string gender = "female";
    std::string religion = "None";
    std::string physical_condition = "healthy";
    std::string mental_condition = "healthy";
    std::vector<CategoryBan> bans;    // one per category of the CategorySet, in its order
    std::string note;
    std::string embedding_file;       // optional precomputed user embedding (.npy)
    int level = -1;                   // 0-5 for the shipped level presets, else -1
    std::string user_id;              // the Sage user a preset stands for ("0000797")

    const CategoryBan* ban(const std::string& category) const;
    CategoryBan* ban(const std::string& category);
    bool is_banned(const std::string& category) const;
    std::vector<std::string> banned_categories() const;
    /// Sets a category by hand: marks it overridden when it differs from what the rules say.
    void set_banned_by_person(const std::string& category, bool banned);
};

/// A problem with one field, for showing next to that field.
struct FieldError {
    std::string field;   // "age", "bans.Violence", ...
    std::string message; // "130 is outside 0-100"
};

/// Every problem of a profile against the value sets and categories; empty when valid.
std::vector<FieldError> validate_profile(const SafetyProfile& profile, const CategorySet& categories);

} // namespace psa
