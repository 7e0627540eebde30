// SPDX-License-Identifier: GPL-3.0-or-later
// Reading config.json files key by key, with every fault naming the file and the key.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace psa {

/// Parses a file that must hold a JSON object. Throws ConfigError naming the file.
nlohmann::json read_json_object_file(const std::filesystem::path& path);

/// Typed access to one JSON object. A null value counts as absent; a getter with no fallback
/// throws ConfigError "<where>: missing required key"; a wrong type throws ConfigError naming the
/// key, the expected type and (shortened) what was found.
struct JsonFields {
    const nlohmann::json& j;
    std::string where;

    const nlohmann::json* find(const char* key) const;
    [[noreturn]] void wrong(const char* key, const char* expected, const nlohmann::json& v) const;
    [[noreturn]] void missing(const char* key) const;

    std::int64_t integer(const char* key, std::optional<std::int64_t> fallback = std::nullopt) const;
    double number(const char* key, double fallback) const;
    bool boolean(const char* key, bool fallback) const;
    std::string string(const char* key, const std::string& fallback) const;
    std::vector<std::int64_t> integers(const char* key) const;
    std::vector<std::string> strings(const char* key) const;
};

// ---- settings structs listed once as a field table ----
// A table is a callable table(config, visit) that calls visit("key", config.field) per field;
// writing and reading through the same table means a field cannot be saved but not loaded.

/// Parses text that must hold a JSON object; ConfigError naming `source_name`: "malformed JSON:
/// ..." or "<what> must be a JSON object".
nlohmann::json parse_json_object_text(const std::string& text, const std::string& source_name,
                                      const std::string& what);

/// ConfigError "<source_name>: \"<key>\" has the wrong type (<type of value>)".
[[noreturn]] void throw_wrong_field_type(const std::string& source_name, const char* key,
                                         const nlohmann::json& value);

/// Every field of the table as one JSON object, in table order.
template <typename Config, typename FieldTable>
nlohmann::json fields_to_json(Config config, const FieldTable& table)
{
    nlohmann::json j = nlohmann::json::object();
    table(config, [&](const char* key, auto& value) { j[key] = value; });
    return j;
}

/// Sets each field whose key `j` holds (null counts as absent); the others keep their values.
template <typename Config, typename FieldTable>
void fields_from_json(const nlohmann::json& j, const std::string& source_name, Config& config,
                      const FieldTable& table)
{
    table(config, [&](const char* key, auto& value) {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null())
            return;
        try {
            it->get_to(value);
        } catch (const nlohmann::json::exception&) {
            throw_wrong_field_type(source_name, key, *it);
        }
    });
}

/// A settings struct as the pretty-printed JSON file text, with its "format" tag.
template <typename Config, typename FieldTable>
std::string fields_to_json_text(const Config& config, const FieldTable& table, const char* format)
{
    nlohmann::json j = fields_to_json(config, table);
    j["format"] = format;
    return j.dump(2) + "\n";
}

/// A settings struct read from JSON file text: defaults for absent keys, ConfigError naming
/// `source_name` for malformed text (`what` names the kind of file) or a field of the wrong type.
template <typename Config, typename FieldTable>
Config fields_from_json_text(const std::string& text, const std::string& source_name,
                             const std::string& what, const FieldTable& table)
{
    Config config;
    fields_from_json(parse_json_object_text(text, source_name, what), source_name, config, table);
    return config;
}

} // namespace psa
