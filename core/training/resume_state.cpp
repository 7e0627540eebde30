// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/resume_state.h"

#include "common/atomic_file.h"
#include "common/error.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace psa {

namespace fs = std::filesystem;

std::string mt19937_text(const std::mt19937& rng)
{
    std::ostringstream mt;
    mt << rng;
    return mt.str();
}

void restore_mt19937(std::mt19937& rng, const std::string& text, const std::string& where)
{
    std::istringstream mt(text);
    mt >> rng;
    if (mt.fail())
        throw ConfigError(path_message(where, "unreadable rng_mt19937 state"));
}

void truncate_step_log(const fs::path& path, int last_step, const std::function<bool(const std::string&)>& is_own_line)
{
    if (!fs::is_regular_file(path))
        return;
    std::ifstream in(path);
    std::string kept;
    for (std::string line; std::getline(in, line);) {
        const auto pos = line.find("\"step\": ");
        if (pos == std::string::npos)
            continue;
        if ((is_own_line && !is_own_line(line)) || std::atoi(line.c_str() + pos + 8) <= last_step)
            kept += line + "\n";
    }
    write_file_atomic(path, kept);
}

} // namespace psa
