// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <filesystem>

namespace psa {

/// $XDG_DATA_HOME/psa-studio (default ~/.local/share/psa-studio): profiles, logs, outputs, adapters.
/// Created on first use. Throws IoError when it cannot be created.
std::filesystem::path app_data_dir();

/// A subfolder of app_data_dir(), created on first use ("logs", "profiles", "outputs", ...).
std::filesystem::path app_data_subdir(const std::string& name);

} // namespace psa
