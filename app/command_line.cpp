// SPDX-License-Identifier: GPL-3.0-or-later
#include "command_line.h"

#include "common/error.h"

#include <cstdint>
#include <cstdlib>

namespace psa::app {

CommandLine::CommandLine(std::vector<std::string> args, const std::vector<OptionSpec>& specs)
{
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0 || a == "--") {
            positional_.push_back(a);
            continue;
        }
        std::string name = a.substr(2);
        std::optional<std::string> inline_value;
        if (const auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        const OptionSpec* spec = nullptr;
        for (const auto& s : specs)
            if (s.name == name)
                spec = &s;
        if (!spec)
            throw InvalidRequest("unknown option --" + name + " (see --help)");
        if (values_.count(name) && !spec->repeatable)
            throw InvalidRequest("option --" + name + " given more than once");
        if (!spec->takes_value) {
            if (inline_value)
                throw InvalidRequest("option --" + name + " takes no value");
            values_[name].push_back("1");
            continue;
        }
        if (inline_value) {
            values_[name].push_back(*inline_value);
        } else {
            if (i + 1 >= args.size())
                throw InvalidRequest("option --" + name + " needs a value");
            values_[name].push_back(args[++i]);
        }
    }
}

std::string CommandLine::get(const std::string& name, const std::string& fallback) const
{
    const auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> CommandLine::get_all(const std::string& name) const
{
    const auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int CommandLine::get_int(const std::string& name, int fallback) const
{
    if (!has(name))
        return fallback;
    const std::string v = get(name);
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE || n < INT32_MIN || n > INT32_MAX)
        throw InvalidRequest("option --" + name + ": \"" + v + "\" is not an integer");
    return static_cast<int>(n);
}

double CommandLine::get_double(const std::string& name, double fallback) const
{
    if (!has(name))
        return fallback;
    const std::string v = get(name);
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0')
        throw InvalidRequest("option --" + name + ": \"" + v + "\" is not a number");
    return x;
}

std::string CommandLine::require(const std::string& name) const
{
    if (!has(name))
        throw InvalidRequest("option --" + name + " is required");
    return get(name);
}

std::string usage_text(const std::string& command, const std::string& synopsis,
                       const std::vector<OptionSpec>& specs)
{
    std::string out = "usage: psa " + command + " " + synopsis + "\n";
    for (const auto& s : specs) {
        std::string left = "  --" + s.name + (s.takes_value ? " VALUE" : "");
        if (left.size() < 28)
            left += std::string(28 - left.size(), ' ');
        out += left + " " + s.help + "\n";
    }
    return out;
}

} // namespace psa::app
