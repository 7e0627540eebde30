// SPDX-License-Identifier: GPL-3.0-or-later
// Personalized preference pairs in the Sage layout: a split folder with metadata.jsonl and the
// images it names. Torch-free, so the UI can validate a folder before a run.
#pragma once
#include "profiles/categories.h"
#include "profiles/profile.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace psa {

/// One line of metadata.jsonl: {"file_name", "chosen", "rejected", "caption", "user_data"}.
struct PreferencePair {
    std::filesystem::path chosen;   ///< absolute (split folder / the line's relative path)
    std::filesystem::path rejected;
    std::string caption;
    std::string user_id;            ///< key into PreferenceDataset::users()
    std::string file_name;          ///< as written (informational)
    std::string category;           ///< the line's "category" when it has one (Sage names the concept's)
    /// Whether the line's user bans its category, so that the chosen image is the safe one; empty
    /// when the line names no category of the set.
    std::optional<bool> user_bans_category;
    int line = 0;                   ///< 1-based line in metadata.jsonl
};

/// A user of the split: their profile (user_data; bans from Banned_Categories when the line has
/// them, else from our rules) and the adapter input for them.
struct PreferenceUser {
    std::string user_id;
    SafetyProfile profile;
    std::vector<float> embedding;   ///< structured encoding, or the {User_ID}.npy values
};

struct PreferenceDatasetOptions {
    bool strict = false;                ///< a missing image is an error instead of a skipped pair
    std::filesystem::path embeds_dir;   ///< non-empty: user embeddings from {User_ID}.npy
    CategorySet categories;             ///< empty: CategorySet::builtin()
};

/// What loading found, for the log and the UI.
struct PreferenceDatasetReport {
    int lines = 0;            ///< non-blank lines read
    int pairs = 0;            ///< usable pairs
    int skipped_missing = 0;  ///< pairs skipped because an image file is missing
    std::vector<std::string> notes; ///< the first few skipped files, explicit-ban overrides, ...
};

class PreferenceDataset {
public:
    /// Reads <split_dir>/metadata.jsonl. Throws ConfigError naming the file and line for a
    /// malformed line (all such lines at once, the first ten listed), a path that is absolute or
    /// contains "..", an unknown banned category, or an empty result; IoError for an unreadable
    /// file, a missing image in strict mode, or a missing or mis-sized {User_ID}.npy.
    static PreferenceDataset load(const std::filesystem::path& split_dir,
                                  const PreferenceDatasetOptions& options = {});

    size_t size() const { return pairs_.size(); }
    bool empty() const { return pairs_.empty(); }
    const PreferencePair& pair(size_t i) const { return pairs_.at(i); }
    const std::vector<PreferencePair>& pairs() const { return pairs_; }
    const PreferenceUser& user(const std::string& user_id) const;
    const std::map<std::string, PreferenceUser>& users() const { return users_; }
    /// Users in order of first appearance.
    const std::vector<std::string>& user_order() const { return user_order_; }
    /// Width of every user embedding.
    int user_dim() const { return user_dim_; }
    /// "structured" or "precomputed".
    const std::string& profile_encoder() const { return profile_encoder_; }
    const CategorySet& categories() const { return categories_; }
    const PreferenceDatasetReport& report() const { return report_; }
    const std::filesystem::path& folder() const { return folder_; }
    const std::filesystem::path& metadata_path() const { return metadata_; }

private:
    std::filesystem::path folder_, metadata_;
    std::vector<PreferencePair> pairs_;
    std::map<std::string, PreferenceUser> users_;
    std::vector<std::string> user_order_;
    int user_dim_ = 0;
    std::string profile_encoder_;
    CategorySet categories_;
    PreferenceDatasetReport report_;
};

} // namespace psa
