// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/paths.h"

#include "common/error.h"

#include <cstdlib>
#include <system_error>

namespace psa {

namespace fs = std::filesystem;

namespace {
fs::path ensure_dir(const fs::path& dir)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw IoError(path_message(dir.string(), "cannot create folder: " + ec.message()));
    return dir;
}
} // namespace

fs::path app_data_dir()
{
    // XDG Base Directory spec: an empty or relative XDG_DATA_HOME is ignored.
    const char* xdg = std::getenv("XDG_DATA_HOME");
    fs::path base;
    if (xdg && *xdg && fs::path(xdg).is_absolute()) {
        base = xdg;
    } else {
        const char* home = std::getenv("HOME");
        base = fs::path(home && *home ? home : "/tmp") / ".local" / "share";
    }
    return ensure_dir(base / "psa-studio");
}

fs::path app_data_subdir(const std::string& name)
{
    return ensure_dir(app_data_dir() / name);
}

} // namespace psa
