// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "profiles/profile.h"

#include <string>
#include <vector>

namespace psa {

/// What the rules say about one category for a set of attributes.
struct RuleDecision {
    bool banned = false;
    std::string reason; // every rule that fired, "; "-joined ("under 18; mental condition: anxiety")
};

/// The ban rules of PSA.md (PSAlign's get_banned.txt) as a deterministic, explained rule set:
///  - under 18, or a mental condition other than healthy -> ban Sexuality, Self-Harm, Violence
///  - a physical condition other than healthy          -> ban Shocking, Harassment
///  - Christianity, Islam or Buddhism                   -> ban Hate, Propaganda
///  - otherwise nothing is banned.
/// ("consider" in the LLM prompt is resolved to "ban": a profile errs on the side of the person's
/// stated vulnerability, and the person can override any category.) Rules naming a category that
/// is not in `categories` are skipped.
RuleDecision decide_category(const SafetyProfile& attributes, const std::string& category);

/// Recomputes every category the person has not overridden; overridden ones keep their state and
/// are re-marked not overridden when they now agree with the rules. Adds missing categories and
/// drops ones not in `categories`. Also re-derives age_group unless overridden.
void apply_ban_rules(SafetyProfile& profile, const CategorySet& categories);

/// A new profile with the rules applied.
SafetyProfile make_profile(const std::string& name, int age, const std::string& gender,
                           const std::string& religion, const std::string& physical,
                           const std::string& mental, const CategorySet& categories);

} // namespace psa
