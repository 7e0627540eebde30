// SPDX-License-Identifier: GPL-3.0-or-later
// The rules of PSAlign's get_banned.txt, made deterministic (PSA.md "Users and their bans").
#include "profiles/ban_rules.h"

#include <algorithm>

namespace psa {

namespace {

struct Rule {
    std::vector<std::string> categories;
    // Returns the reason when the rule fires for these attributes, else empty.
    std::string (*fires)(const SafetyProfile&);
};

bool is_religious(const std::string& r) { return r == "Christianity" || r == "Islam" || r == "Buddhism"; }

const std::vector<Rule>& rules()
{
    static const std::vector<Rule> r = {
        {{"Sexuality", "Self-Harm", "Violence"},
         [](const SafetyProfile& p) -> std::string { return p.age < 18 ? "under 18" : ""; }},
        {{"Sexuality", "Self-Harm", "Violence"},
         [](const SafetyProfile& p) -> std::string {
             return p.mental_condition != "healthy" ? "mental condition: " + p.mental_condition : "";
         }},
        {{"Shocking", "Harassment"},
         [](const SafetyProfile& p) -> std::string {
             return p.physical_condition != "healthy" ? "physical condition: " + p.physical_condition : "";
         }},
        {{"Hate", "Propaganda"},
         [](const SafetyProfile& p) -> std::string {
             return is_religious(p.religion) ? "religion: " + p.religion : "";
         }},
    };
    return r;
}

} // namespace

RuleDecision decide_category(const SafetyProfile& p, const std::string& category)
{
    RuleDecision d;
    for (const auto& rule : rules()) {
        if (std::find(rule.categories.begin(), rule.categories.end(), category) == rule.categories.end())
            continue;
        const std::string why = rule.fires(p);
        if (why.empty())
            continue;
        d.banned = true;
        d.reason += (d.reason.empty() ? "" : "; ") + why;
    }
    return d;
}

void apply_ban_rules(SafetyProfile& p, const CategorySet& categories)
{
    if (!p.age_group_overridden)
        p.age_group = age_group_for_age(p.age);
    std::vector<CategoryBan> bans;
    for (const auto& c : categories.all()) {
        const auto rule = decide_category(p, c.id);
        CategoryBan b{c.id, rule.banned, rule.reason, false};
        if (const auto* old = p.ban(c.id); old && old->overridden && old->banned != rule.banned) {
            b.banned = old->banned;
            b.overridden = true;
        }
        bans.push_back(std::move(b));
    }
    p.bans = std::move(bans);
}

SafetyProfile make_profile(const std::string& name, int age, const std::string& gender,
                           const std::string& religion, const std::string& physical,
                           const std::string& mental, const CategorySet& categories)
{
    SafetyProfile p;
    p.name = name;
    p.age = age;
    p.gender = gender;
    p.religion = religion;
    p.physical_condition = physical;
    p.mental_condition = mental;
    apply_ban_rules(p, categories);
    return p;
}

} // namespace psa
