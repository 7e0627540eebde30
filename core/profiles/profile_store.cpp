// SPDX-License-Identifier: GPL-3.0-or-later
#include "profiles/profile_store.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/paths.h"

#include <nlohmann/json.hpp>

#include <cctype>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

[[noreturn]] void field_error(const std::string& source, const std::string& field, const std::string& what)
{
    throw ConfigError(source + ": field \"" + field + "\": " + what);
}

std::string type_name(const json& v) { return v.type_name(); }

// The key is a C string so that no temporary std::string is bound: g++ 13's -Wdangling-reference
// otherwise flags every `const auto& v = require(j, "age", ...)` although `v` refers into `j`.
const json& require(const json& j, const char* key, const std::string& source)
{
    if (!j.contains(key))
        field_error(source, key, "is missing");
    return j[key];
}

std::string get_string(const json& j, const std::string& key, const std::string& source, bool required = true)
{
    if (!required && !j.contains(key))
        return {};
    const auto& v = require(j, key.c_str(), source);
    if (!v.is_string())
        field_error(source, key, "expected a string, got " + type_name(v));
    return v.get<std::string>();
}

bool get_bool(const json& j, const std::string& key, const std::string& source, bool fallback)
{
    if (!j.contains(key))
        return fallback;
    if (!j[key].is_boolean())
        field_error(source, key, "expected true or false, got " + type_name(j[key]));
    return j[key].get<bool>();
}

} // namespace

SafetyProfile profile_from_json_text(const std::string& text, const std::string& source,
                                     const CategorySet& categories)
{
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw ConfigError(source + ": not valid JSON: " + e.what());
    }
    if (!j.is_object())
        throw ConfigError(source + ": a profile must be a JSON object, got " + type_name(j));
    if (j.contains("version")) {
        if (!j["version"].is_number_integer())
            field_error(source, "version", "expected an integer, got " + type_name(j["version"]));
        if (j["version"].get<int>() > SafetyProfile::kFormatVersion)
            field_error(source, "version", "profile format " + std::to_string(j["version"].get<int>()) +
                                               " was written by a newer PSA Studio");
    }
    SafetyProfile p;
    p.name = get_string(j, "name", source);
    const auto& age = require(j, "age", source);
    if (!age.is_number_integer())
        field_error(source, "age", "expected a whole number, got " + (age.is_number() ? age.dump() : type_name(age)));
    const auto age_value = age.get<long long>();
    if (age_value < kMinAge || age_value > kMaxAge)
        field_error(source, "age", std::to_string(age_value) + " is outside " + std::to_string(kMinAge) + "-" +
                                       std::to_string(kMaxAge));
    p.age = static_cast<int>(age_value);
    p.age_group_overridden = get_bool(j, "age_group_overridden", source, false);
    p.age_group = j.contains("age_group") ? get_string(j, "age_group", source) : age_group_for_age(p.age);
    if (!p.age_group_overridden && p.age_group != age_group_for_age(p.age))
        field_error(source, "age_group", "\"" + p.age_group + "\" does not match age " + std::to_string(p.age) +
                                             " (expected \"" + age_group_for_age(p.age) +
                                             "\"; set age_group_overridden to keep it)");
    p.gender = get_string(j, "gender", source);
    p.religion = get_string(j, "religion", source);
    p.physical_condition = get_string(j, "physical_condition", source);
    p.mental_condition = get_string(j, "mental_condition", source);
    p.note = get_string(j, "note", source, false);
    p.embedding_file = get_string(j, "embedding_file", source, false);
    p.user_id = get_string(j, "user_id", source, false);
    if (j.contains("level")) {
        if (!j["level"].is_number_integer() || j["level"].get<int>() < 0 || j["level"].get<int>() > 5)
            field_error(source, "level", "expected a level 0-5, got " + j["level"].dump());
        p.level = j["level"].get<int>();
    }

    const auto& bans = require(j, "bans", source);
    if (!bans.is_object())
        field_error(source, "bans", "expected an object of category -> {banned, reason, overridden}, got " +
                                        type_name(bans));
    for (auto it = bans.begin(); it != bans.end(); ++it) {
        const std::string field = "bans." + it.key();
        if (!categories.contains(it.key()))
            field_error(source, field, "unknown category \"" + it.key() + "\"");
        CategoryBan b;
        b.category = it.key();
        if (it.value().is_boolean()) {
            b.banned = it.value().get<bool>();
        } else if (it.value().is_object()) {
            const auto& v = it.value();
            if (!v.contains("banned") || !v["banned"].is_boolean())
                field_error(source, field + ".banned", "expected true or false");
            b.banned = v["banned"].get<bool>();
            if (v.contains("reason") && !v["reason"].is_string())
                field_error(source, field + ".reason", "expected a string, got " + type_name(v["reason"]));
            b.reason = v.value("reason", "");
            if (v.contains("overridden") && !v["overridden"].is_boolean())
                field_error(source, field + ".overridden", "expected true or false");
            b.overridden = v.value("overridden", false);
        } else {
            field_error(source, field, "expected true/false or {banned, reason, overridden}, got " +
                                           type_name(it.value()));
        }
        p.bans.push_back(std::move(b));
    }
    // Keep the categories' order; a category absent from the file is a field error.
    std::vector<CategoryBan> ordered;
    for (const auto& c : categories.all()) {
        const auto* b = p.ban(c.id);
        if (!b)
            field_error(source, "bans." + c.id, "is missing (every category needs banned true or false)");
        ordered.push_back(*b);
    }
    p.bans = std::move(ordered);
    const auto errors = validate_profile(p, categories);
    if (!errors.empty())
        field_error(source, errors.front().field, errors.front().message);
    return p;
}

std::string profile_to_json_text(const SafetyProfile& p)
{
    json j;
    j["format"] = "psa-profile";
    j["version"] = SafetyProfile::kFormatVersion;
    j["name"] = p.name;
    j["age"] = p.age;
    j["age_group"] = p.age_group;
    j["age_group_overridden"] = p.age_group_overridden;
    j["gender"] = p.gender;
    j["religion"] = p.religion;
    j["physical_condition"] = p.physical_condition;
    j["mental_condition"] = p.mental_condition;
    json bans = json::object();
    for (const auto& b : p.bans)
        bans[b.category] = {{"banned", b.banned}, {"reason", b.reason}, {"overridden", b.overridden}};
    j["bans"] = bans;
    j["note"] = p.note;
    if (!p.embedding_file.empty())
        j["embedding_file"] = p.embedding_file;
    if (p.level >= 0)
        j["level"] = p.level;
    if (!p.user_id.empty())
        j["user_id"] = p.user_id;
    return j.dump(2) + "\n";
}

SafetyProfile load_profile(const fs::path& path, const CategorySet& categories)
{
    return profile_from_json_text(read_file_text(path), path.string(), categories);
}

void save_profile(const fs::path& path, const SafetyProfile& profile, const CategorySet& categories)
{
    const auto errors = validate_profile(profile, categories);
    if (!errors.empty())
        field_error(path.string(), errors.front().field, errors.front().message);
    write_file_atomic(path, profile_to_json_text(profile));
}

fs::path profiles_dir() { return app_data_subdir("profiles"); }

std::string profile_file_name(const std::string& name)
{
    std::string out;
    for (unsigned char c : name) {
        if (std::isalnum(c))
            out += static_cast<char>(std::tolower(c));
        else if (c >= 0x80)
            out += static_cast<char>(c); // keep UTF-8 letters
        else if (!out.empty() && out.back() != '-')
            out += '-';
    }
    while (!out.empty() && out.back() == '-')
        out.pop_back();
    return (out.empty() ? "profile" : out) + ".json";
}

std::vector<SafetyProfile> load_level_presets(const CategorySet& categories)
{
    std::vector<SafetyProfile> out;
    out.push_back(load_permissive_preset(categories)); // L0: the adapter is off
    for (int level = 1; level <= 5; ++level)
        out.push_back(load_profile(resource_dir() / "profiles" / ("level-" + std::to_string(level) + ".json"),
                                   categories));
    return out;
}

SafetyProfile load_permissive_preset(const CategorySet& categories)
{
    return load_profile(resource_dir() / "profiles" / "permissive.json", categories);
}

} // namespace psa
