// SPDX-License-Identifier: GPL-3.0-or-later
// `psa world generate`: renders the world's images once, writes the pretraining/judge index
// (base/metadata.jsonl), the virtual users and their Sage-format preference splits.
#pragma once
#include "common/progress.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace psa {

struct WorldGenerateOptions {
    std::filesystem::path out;        ///< must not already hold a world (world.json)
    std::filesystem::path world_spec; ///< empty: builtin_world_spec_path()
    std::filesystem::path users_csv;  ///< empty: default_sage_users_csv()
    std::uint64_t seed = 0;
    int users = 100;
    int size = 0;                 ///< pixels; 0: the spec's image_size
    int pairs_per_concept = 16;   ///< harmful/safe render pairs per concept (>= 2; a quarter held out)
    int mixed_renders = 400;      ///< renders with two concepts of different categories
    int plain_renders = 60;       ///< renders with no concept
    /// Two-concept scenes rendered in all four harmful/safe combinations (a quarter held out),
    /// for preference pairs that ban one motif of a picture and keep the other.
    int mixed_pair_scenes = 0;
    int mixed_pairs_per_user = 0; ///< such pairs per user, beside the one pair per concept
    /// The safe render of a pair leaves the concept's slot as background instead of drawing the
    /// safe counterpart, so a user who bans the concept prefers the picture without any motif there.
    bool safe_as_background = false;
    double unseen_fraction = 0.2; ///< users held out of training entirely (test_unseen)
    /// Chance that a user decides a category against the rule set (apply_personal_choices).
    double personal_choice_rate = 0;
    double val_fraction = 0.1;    ///< of a seen user's concepts
    double test_seen_fraction = 0.1;

    /// Throws InvalidRequest naming the option.
    void validate() const;
};

struct WorldGenerateResult {
    Outcome outcome = Outcome::Completed;
    int renders = 0;
    int users = 0;
    int unseen_users = 0;
    std::map<std::string, int> pairs; ///< per split
    double seconds = 0;
};

/// The split folders, in the order they are written.
const std::vector<std::string>& world_split_names();

/// Writes the world into options.out (layout in docs/world.md). The same options give
/// byte-identical files. Reports Stage::Save per render and Stage::Other per user; a stop
/// request returns Cancelled (the folder then lacks world.json, which is written last).
WorldGenerateResult generate_world(const WorldGenerateOptions& options, JobControl& job);

} // namespace psa
