// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace psa::app {

/// One declared option of a subcommand: "--name VALUE" (takes_value) or a flag "--name".
struct OptionSpec {
    std::string name;
    bool takes_value = true;
    bool repeatable = false;
    std::string help;
};

/// Parsed arguments of one subcommand. Parsing throws psa::InvalidRequest with a one-line message
/// for an unknown option, a missing value, or a repeated single option.
class CommandLine {
public:
    CommandLine(std::vector<std::string> args, const std::vector<OptionSpec>& specs);

    bool has(const std::string& name) const { return values_.count(name) != 0; }
    std::string get(const std::string& name, const std::string& fallback = {}) const;
    std::vector<std::string> get_all(const std::string& name) const;
    /// The option as a number; throws InvalidRequest naming the option when it is not one.
    int get_int(const std::string& name, int fallback) const;
    double get_double(const std::string& name, double fallback) const;
    std::string require(const std::string& name) const;
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::map<std::string, std::vector<std::string>> values_;
    std::vector<std::string> positional_;
};

std::string usage_text(const std::string& command, const std::string& synopsis,
                       const std::vector<OptionSpec>& specs);

} // namespace psa::app
