// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "profiles/profile.h"

#include <filesystem>
#include <string>
#include <vector>

namespace psa {

/// Profile JSON (format "psa-profile", version 1). Parsing checks every field's presence and type,
/// the value sets and the categories; the first problem is thrown as ConfigError
/// "<source>: field "<name>": <problem>". Files on disk are never modified by a failed load.
SafetyProfile profile_from_json_text(const std::string& text, const std::string& source,
                                     const CategorySet& categories);
std::string profile_to_json_text(const SafetyProfile& profile);

SafetyProfile load_profile(const std::filesystem::path& path, const CategorySet& categories);
/// Validates first (nothing is written when invalid), then writes atomically.
void save_profile(const std::filesystem::path& path, const SafetyProfile& profile,
                  const CategorySet& categories);

/// The folder profiles live in: app_data_dir()/profiles.
std::filesystem::path profiles_dir();
/// A file name for a profile name ("My kid" -> "my-kid.json").
std::string profile_file_name(const std::string& name);

/// The shipped level presets in level order: L0 = the permissive user (adapter off), then
/// L1-L5 (resources/profiles/level-N.json).
std::vector<SafetyProfile> load_level_presets(const CategorySet& categories);
/// The permissive preset (user 0001001).
SafetyProfile load_permissive_preset(const CategorySet& categories);

} // namespace psa
