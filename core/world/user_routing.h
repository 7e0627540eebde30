// SPDX-License-Identifier: GPL-3.0-or-later
// `psa world routing`: where each category's motif place sends its user attention.
//
// The adapter's effect on a motif depends on which user tokens the motif's place attends to. The
// evaluation only sees the outcome (a motif kept, removed or recoloured); this probe measures the
// routing itself. For each concept it takes the world's own harmful renders of that concept alone
// (base/metadata.jsonl, whose focus boxes say where the motif is), noises them at a few
// timesteps, runs the UNet once with the adapter for a user who bans nothing and once for a user
// who bans everything, and averages the user-attention weights over the latent cells of the
// motif's box, over heads, layers, timesteps and images. It does the same for the subject's place
// (the subject's box outside the motif's): where a place with nothing to suppress looks, which is
// what decides whether a user who bans everything also damages the subject. Torch-free facade
// (the UI can call it).
#pragma once
#include "common/progress.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psa {

struct UserRoutingOptions {
    std::filesystem::path model;    ///< diffusers folder (or single file)
    std::filesystem::path adapter;  ///< PSA adapter .safetensors (required)
    std::filesystem::path data_dir; ///< generated world: base/metadata.jsonl with focus_boxes
    int images_per_concept = 4;
    std::vector<int> timesteps = {250, 500, 750};
    std::uint64_t seed = 0; ///< the diffusion noise
    std::string device = "auto";

    /// Throws InvalidRequest naming the option.
    void validate() const;
};

/// The mean share of user attention each token receives at the motif places of each category.
struct UserRoutingState {
    std::string label;                      ///< "allowed" (nothing banned) or "banned" (all)
    std::vector<std::vector<double>> share; ///< [motif category][token], each row sums to 1
    std::vector<double> subject;            ///< [token]: at the subject's place, over all renders
};

struct UserRoutingReport {
    Outcome outcome = Outcome::Completed;
    UserRoutingOptions options;
    std::vector<std::string> categories; ///< the rows: motif categories, in the adapter's order
    std::vector<std::string>
        tokens;              ///< the columns: category ids (per-category layout; kSinkTokenLabel for its
                             ///< sink token) or "token N"
    std::vector<int> images; ///< renders measured per category
    std::vector<UserRoutingState> states;
    double seconds = 0;
};

/// Throws InvalidRequest / IoError / ModelLoadError naming the file and the problem (a world
/// without base/metadata.jsonl or focus boxes, an adapter that does not fit the model).
UserRoutingReport run_user_routing(const UserRoutingOptions& options, JobControl& job);

std::string user_routing_report_json(const UserRoutingReport& report);

/// The report as aligned text tables, one per state.
std::string user_routing_report_text(const UserRoutingReport& report);

} // namespace psa
