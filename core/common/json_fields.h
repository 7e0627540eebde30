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

} // namespace psa
