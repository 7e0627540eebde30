// SPDX-License-Identifier: GPL-3.0-or-later
// Format of A1111's infotext (modules/infotext_utils.py: parse_generation_parameters): the last
// line that parses as "Key: value, Key: value, ..." with at least three fields holds the settings.
#include "common/a1111_parameters.h"

#include <sstream>

namespace psa {

namespace {

const std::string kNegativePrefix = "Negative prompt: ";

bool needs_quotes(const std::string& v)
{
    return v.find_first_of(",:\"\n") != std::string::npos;
}

std::string quote(const std::string& v)
{
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out + "\"";
}

std::string trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

// Parses "Key: value, Key: "quoted, value", ..." strictly; nullopt when the line is not of that form.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_fields(const std::string& line)
{
    std::vector<std::pair<std::string, std::string>> fields;
    size_t i = 0;
    const size_t n = line.size();
    while (i < n) {
        while (i < n && line[i] == ' ')
            ++i;
        const size_t colon = line.find(": ", i);
        if (colon == std::string::npos)
            return std::nullopt;
        std::string key = line.substr(i, colon - i);
        if (key.empty() || key.find_first_of(",\"") != std::string::npos)
            return std::nullopt;
        i = colon + 2;
        std::string value;
        if (i < n && line[i] == '"') {
            ++i;
            bool closed = false;
            while (i < n) {
                char c = line[i++];
                if (c == '\\' && i < n) {
                    char e = line[i++];
                    value += (e == 'n') ? '\n' : e;
                } else if (c == '"') {
                    closed = true;
                    break;
                } else {
                    value += c;
                }
            }
            if (!closed)
                return std::nullopt;
            while (i < n && line[i] == ' ')
                ++i;
            if (i < n && line[i] != ',')
                return std::nullopt;
        } else {
            const size_t comma = line.find(',', i);
            value = line.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
            i = comma == std::string::npos ? n : comma;
        }
        fields.emplace_back(trim(key), trim(value));
        if (i < n && line[i] == ',')
            ++i;
    }
    if (fields.size() < 3)
        return std::nullopt;
    return fields;
}

} // namespace

std::optional<std::string> A1111Parameters::field(const std::string& key) const
{
    for (const auto& [k, v] : fields)
        if (k == key)
            return v;
    return std::nullopt;
}

std::string format_a1111_parameters(const A1111Parameters& p)
{
    std::string out = p.prompt;
    if (!p.negative_prompt.empty())
        out += "\n" + kNegativePrefix + p.negative_prompt;
    if (!p.fields.empty()) {
        out += "\n";
        for (size_t i = 0; i < p.fields.size(); ++i) {
            if (i)
                out += ", ";
            const auto& [k, v] = p.fields[i];
            out += k + ": " + (needs_quotes(v) ? quote(v) : v);
        }
    }
    return out;
}

A1111Parameters parse_a1111_parameters(const std::string& text)
{
    std::vector<std::string> lines;
    std::stringstream ss(text);
    for (std::string line; std::getline(ss, line);)
        lines.push_back(line);

    A1111Parameters p;
    if (!lines.empty()) {
        if (auto fields = parse_fields(trim(lines.back()))) {
            p.fields = std::move(*fields);
            lines.pop_back();
        }
    }
    bool in_negative = false;
    std::vector<std::string> prompt_lines, negative_lines;
    for (const auto& line : lines) {
        if (!in_negative && line.rfind(kNegativePrefix, 0) == 0) {
            in_negative = true;
            negative_lines.push_back(line.substr(kNegativePrefix.size()));
        } else {
            (in_negative ? negative_lines : prompt_lines).push_back(line);
        }
    }
    const auto join = [](const std::vector<std::string>& parts) {
        std::string out;
        for (size_t i = 0; i < parts.size(); ++i)
            out += (i ? "\n" : "") + parts[i];
        return out;
    };
    const std::string prompt = join(prompt_lines), negative = join(negative_lines);
    p.prompt = trim(prompt);
    p.negative_prompt = trim(negative);
    return p;
}

} // namespace psa
