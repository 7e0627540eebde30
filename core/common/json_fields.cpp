// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/json_fields.h"

#include "common/error.h"

#include <fstream>

namespace psa {

using json = nlohmann::json;

namespace {
std::string short_dump(const json& v)
{
    auto s = v.dump();
    return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}
} // namespace

json read_json_object_file(const std::filesystem::path& path)
{
    std::ifstream in(path);
    if (!in)
        throw ConfigError(path_message(path.string(), "cannot open the config file"));
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        throw ConfigError(path_message(path.string(), std::string("not valid JSON: ") + e.what()));
    }
    if (!j.is_object())
        throw ConfigError(path_message(path.string(), "expected a JSON object at the top level"));
    return j;
}

json parse_json_object_text(const std::string& text, const std::string& source_name, const std::string& what)
{
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        throw ConfigError(path_message(source_name, std::string("malformed JSON: ") + e.what()));
    }
    if (!j.is_object())
        throw ConfigError(path_message(source_name, what + " must be a JSON object"));
    return j;
}

void throw_wrong_field_type(const std::string& source_name, const char* key, const json& value)
{
    throw ConfigError(path_message(source_name, std::string("\"") + key + "\" has the wrong type (" +
                                                    value.type_name() + ")"));
}

const json* JsonFields::find(const char* key) const
{
    const auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

void JsonFields::wrong(const char* key, const char* expected, const json& v) const
{
    throw ConfigError(path_message(where, std::string("\"") + key + "\": expected " + expected + ", got " +
                                              v.type_name() + " " + short_dump(v)));
}

void JsonFields::missing(const char* key) const
{
    throw ConfigError(path_message(where, std::string("missing required key \"") + key + "\""));
}

std::int64_t JsonFields::integer(const char* key, std::optional<std::int64_t> fallback) const
{
    const json* v = find(key);
    if (!v) {
        if (!fallback)
            missing(key);
        return *fallback;
    }
    if (!v->is_number_integer())
        wrong(key, "an integer", *v);
    return v->get<std::int64_t>();
}

double JsonFields::number(const char* key, double fallback) const
{
    const json* v = find(key);
    if (!v)
        return fallback;
    if (!v->is_number())
        wrong(key, "a number", *v);
    return v->get<double>();
}

bool JsonFields::boolean(const char* key, bool fallback) const
{
    const json* v = find(key);
    if (!v)
        return fallback;
    if (!v->is_boolean())
        wrong(key, "true or false", *v);
    return v->get<bool>();
}

std::string JsonFields::string(const char* key, const std::string& fallback) const
{
    const json* v = find(key);
    if (!v)
        return fallback;
    if (!v->is_string())
        wrong(key, "a string", *v);
    return v->get<std::string>();
}

std::vector<std::int64_t> JsonFields::integers(const char* key) const
{
    const json* v = find(key);
    if (!v)
        missing(key);
    if (!v->is_array())
        wrong(key, "an array of integers", *v);
    std::vector<std::int64_t> out;
    for (const auto& e : *v) {
        if (!e.is_number_integer())
            wrong(key, "an array of integers", *v);
        out.push_back(e.get<std::int64_t>());
    }
    return out;
}

std::vector<std::string> JsonFields::strings(const char* key) const
{
    const json* v = find(key);
    if (!v)
        missing(key);
    if (!v->is_array())
        wrong(key, "an array of strings", *v);
    std::vector<std::string> out;
    for (const auto& e : *v) {
        if (!e.is_string())
            wrong(key, "an array of strings", *v);
        out.push_back(e.get<std::string>());
    }
    return out;
}

} // namespace psa
