// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "profiles/profile.h"

#include <filesystem>
#include <string>
#include <vector>

namespace psa {

/// One row of the Sage user table (PSAlign users.csv): attributes and the LLM's ban list.
struct SageUser {
    std::string user_id; // row number, zero-padded to 7 digits
    SafetyProfile attributes; // bans empty
    std::vector<std::string> banned;
};

/// Reads users.csv (columns Age, Age_Group, Gender, Religion, Physical_Condition,
/// Mental_Condition, Banned_Categories as a Python list string, ...). Throws IoError/ConfigError
/// naming the file and line.
std::vector<SageUser> read_sage_users(const std::filesystem::path& csv);

/// Per category: how often our rules agree with the LLM labels.
struct RuleAgreement {
    std::string category;
    int users = 0;
    int agree = 0;
    int rules_ban_llm_allows = 0;
    int rules_allow_llm_bans = 0;
    double rate() const { return users ? double(agree) / users : 0.0; }
};
std::vector<RuleAgreement> measure_rule_agreement(const std::vector<SageUser>& users,
                                                  const CategorySet& categories);

} // namespace psa
