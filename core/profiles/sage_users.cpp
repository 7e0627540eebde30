// SPDX-License-Identifier: GPL-3.0-or-later
#include "profiles/sage_users.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "profiles/ban_rules.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace psa {

namespace {

// RFC 4180 fields: quoted fields may hold commas and doubled quotes.
std::vector<std::string> split_csv_line(const std::string& line)
{
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                cur += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                cur += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            out.push_back(cur);
            cur.clear();
        } else if (c != '\r') {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

// "['Propaganda', 'Sexuality']" -> {"Propaganda", "Sexuality"}
std::vector<std::string> parse_python_list(const std::string& text)
{
    std::vector<std::string> out;
    std::string cur;
    bool in_quote = false;
    for (char c : text) {
        if (c == '\'' || c == '"') {
            if (in_quote) {
                out.push_back(cur);
                cur.clear();
            }
            in_quote = !in_quote;
        } else if (in_quote) {
            cur += c;
        }
    }
    return out;
}

} // namespace

std::vector<SageUser> read_sage_users(const std::filesystem::path& csv)
{
    std::istringstream in(read_file_text(csv));
    std::string line;
    if (!std::getline(in, line))
        throw IoError(path_message(csv.string(), "empty file"));
    const auto header = split_csv_line(line);
    const auto col = [&](const std::string& name) {
        const auto it = std::find(header.begin(), header.end(), name);
        if (it == header.end())
            throw ConfigError(path_message(csv.string(), "missing column \"" + name + "\""));
        return static_cast<size_t>(it - header.begin());
    };
    const size_t c_age = col("Age"), c_gender = col("Gender"), c_rel = col("Religion"),
                 c_phys = col("Physical_Condition"), c_ment = col("Mental_Condition"),
                 c_banned = col("Banned_Categories");
    const auto c_id = std::find(header.begin(), header.end(), "User_ID");
    std::vector<SageUser> users;
    int line_no = 1;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.empty())
            continue;
        const auto f = split_csv_line(line);
        if (f.size() < header.size())
            throw ConfigError(path_message(csv.string(), "line " + std::to_string(line_no) + ": " +
                                                             std::to_string(f.size()) + " fields, expected " +
                                                             std::to_string(header.size())));
        SageUser u;
        if (c_id != header.end()) {
            u.user_id = f[static_cast<size_t>(c_id - header.begin())];
        } else {
            char buf[16];
            std::snprintf(buf, sizeof buf, "%07d", line_no - 1);
            u.user_id = buf;
        }
        try {
            u.attributes.age = std::stoi(f[c_age]);
        } catch (const std::exception&) {
            throw ConfigError(path_message(csv.string(), "line " + std::to_string(line_no) + ": Age \"" +
                                                             f[c_age] + "\" is not a number"));
        }
        u.attributes.age_group = age_group_for_age(u.attributes.age);
        u.attributes.gender = f[c_gender];
        u.attributes.religion = f[c_rel].empty() ? "None" : f[c_rel];
        u.attributes.physical_condition = f[c_phys];
        u.attributes.mental_condition = f[c_ment];
        u.attributes.name = "Sage user " + u.user_id;
        u.banned = parse_python_list(f[c_banned]);
        users.push_back(std::move(u));
    }
    return users;
}

std::vector<RuleAgreement> measure_rule_agreement(const std::vector<SageUser>& users,
                                                  const CategorySet& categories)
{
    std::vector<RuleAgreement> out;
    for (const auto& c : categories.all()) {
        RuleAgreement a;
        a.category = c.id;
        for (const auto& u : users) {
            const bool llm = std::find(u.banned.begin(), u.banned.end(), c.id) != u.banned.end();
            const bool rule = decide_category(u.attributes, c.id).banned;
            ++a.users;
            if (llm == rule)
                ++a.agree;
            else if (rule)
                ++a.rules_ban_llm_allows;
            else
                ++a.rules_allow_llm_bans;
        }
        out.push_back(a);
    }
    return out;
}

} // namespace psa
