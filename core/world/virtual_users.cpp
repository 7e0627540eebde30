// SPDX-License-Identifier: GPL-3.0-or-later
#include "world/virtual_users.h"

#include "common/error.h"
#include "profiles/ban_rules.h"
#include "world/world_random.h"

#include <cstdio>
#include <cstdlib>

namespace psa {

namespace {

template <class K>
K draw(const std::map<K, int>& counts, WorldRng& rng)
{
    std::vector<double> w;
    std::vector<K> keys;
    for (const auto& [k, n] : counts) {
        keys.push_back(k);
        w.push_back(n);
    }
    return keys.at(static_cast<size_t>(rng.weighted(w)));
}

} // namespace

AttributeFrequencies measure_attribute_frequencies(const std::vector<SageUser>& users, const std::string& source)
{
    AttributeFrequencies f;
    f.source = source;
    for (const auto& u : users) {
        const auto& a = u.attributes;
        ++f.users;
        ++f.age_group[a.age_group];
        ++f.age_by_group[a.age_group][a.age];
        ++f.gender[a.gender];
        ++f.religion_by_group[a.age_group][a.religion];
        ++f.physical_by_group[a.age_group][a.physical_condition];
        ++f.mental_by_group[a.age_group][a.mental_condition];
    }
    if (f.users == 0)
        throw ConfigError(path_message(source, "no users to measure attribute frequencies from"));
    return f;
}

std::filesystem::path default_sage_users_csv()
{
    if (const char* shared = std::getenv("PSA_SHARED"); shared && *shared)
        return std::filesystem::path(shared) / "data" / "psalign" / "users.csv";
    return resource_dir().parent_path().parent_path() / "shared" / "data" / "psalign" / "users.csv";
}

std::vector<VirtualUser> sample_virtual_users(const AttributeFrequencies& f, int count, std::uint64_t seed,
                                              const CategorySet& categories)
{
    if (f.users == 0)
        throw InvalidRequest("virtual users: no measured frequencies");
    std::vector<VirtualUser> out;
    for (int i = 0; i < count; ++i) {
        // One stream per user: the first N users are the same whatever the count.
        WorldRng rng(WorldRng::derive(seed, 20, static_cast<std::uint64_t>(i)));
        const std::string group = draw(f.age_group, rng);
        const int age = draw(f.age_by_group.at(group), rng);
        const std::string gender = draw(f.gender, rng);
        const std::string religion = draw(f.religion_by_group.at(group), rng);
        const std::string physical = draw(f.physical_by_group.at(group), rng);
        const std::string mental = draw(f.mental_by_group.at(group), rng);
        char id[16];
        std::snprintf(id, sizeof id, "%07d", i + 1);
        VirtualUser u;
        u.user_id = id;
        u.profile = make_profile(id, age, gender, religion, physical, mental, categories);
        u.profile.user_id = id;
        if (const auto errors = validate_profile(u.profile, categories); !errors.empty())
            throw ConfigError(path_message(f.source, "measured attribute " + errors.front().field + ": " +
                                                         errors.front().message));
        out.push_back(std::move(u));
    }
    return out;
}

void apply_personal_choices(std::vector<VirtualUser>& users, double rate, std::uint64_t seed,
                            const CategorySet& categories)
{
    if (!(rate >= 0 && rate <= 1))
        throw InvalidRequest("virtual users: personal choice rate " + std::to_string(rate) + " is outside 0-1");
    for (size_t i = 0; i < users.size(); ++i) {
        WorldRng rng(WorldRng::derive(seed, 21, static_cast<std::uint64_t>(i)));
        auto& profile = users[i].profile;
        for (const auto& c : categories.all())
            if (rng.chance(rate))
                profile.set_banned_by_person(c.id, !profile.is_banned(c.id));
    }
}

} // namespace psa
