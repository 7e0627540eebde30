// SPDX-License-Identifier: GPL-3.0-or-later
// Virtual users of the world: attributes drawn with the frequencies measured from Sage's user
// table, bans from our rule set (profiles/ban_rules.h).
#pragma once
#include "profiles/profile.h"
#include "profiles/sage_users.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace psa {

/// Counts measured from a Sage user table. Religion and both conditions are counted per age
/// group, and ages per age group, so sampling keeps Sage's realism (who is how old, which
/// conditions and beliefs go with which age); gender is counted over all users.
struct AttributeFrequencies {
    std::string source; ///< file name of the table (not its full path: output stays portable)
    int users = 0;
    std::map<std::string, int> age_group;
    std::map<std::string, std::map<int, int>> age_by_group;
    std::map<std::string, int> gender;
    std::map<std::string, std::map<std::string, int>> religion_by_group, physical_by_group, mental_by_group;
};

AttributeFrequencies measure_attribute_frequencies(const std::vector<SageUser>& users, const std::string& source);

/// $PSA_SHARED/data/psalign/users.csv, else ../shared/data/psalign/users.csv beside the
/// repository (resources/../../shared).
std::filesystem::path default_sage_users_csv();

struct VirtualUser {
    std::string user_id;  ///< 7 digits, as Sage numbers its users
    SafetyProfile profile; ///< attributes and the rule-set bans
    bool unseen = false;  ///< held out of training (test_unseen)
};

/// `count` users drawn from the frequencies with `seed`. Throws ConfigError naming the table when
/// a measured value is not one our profiles know.
std::vector<VirtualUser> sample_virtual_users(const AttributeFrequencies& frequencies, int count,
                                              std::uint64_t seed, const CategorySet& categories);

/// Each user decides each category against the rule set with chance `rate`, on their own (one
/// stream per user, independent of the attribute stream), as a person overrides a rule in the
/// profile editor; such bans are marked overridden. The rules ban categories only in fixed
/// bundles (Violence, Self-Harm and Sexuality always together), so data from rule-only users
/// cannot tell an adapter which of a bundle's categories a ban is about. A rate of 0 changes
/// nothing. Throws InvalidRequest for a rate outside [0, 1].
void apply_personal_choices(std::vector<VirtualUser>& users, double rate, std::uint64_t seed,
                            const CategorySet& categories);

} // namespace psa
