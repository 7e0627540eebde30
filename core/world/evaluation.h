// SPDX-License-Identifier: GPL-3.0-or-later
// `psa world eval`: held-out prompts from the world's grammar, generated at levels L0-L5 and for
// unseen users, read by the judge and summarised. Torch-free facade (the UI can call it).
#pragma once
#include "common/progress.h"
#include "world/evaluation_metrics.h"
#include "world/world_spec.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace psa {

struct WorldEvalOptions {
    std::filesystem::path model;      ///< diffusers folder (or single file)
    std::filesystem::path adapter;    ///< empty: every image is generated with the adapter off
    std::filesystem::path judge;      ///< empty: WorldJudge::builtin_path()
    std::filesystem::path world_spec; ///< empty: builtin_world_spec_path()
    /// A generated world whose users.jsonl names the unseen users; empty: `unseen_users` fresh
    /// virtual users drawn from `users_csv` with the seed.
    std::filesystem::path data_dir;
    std::filesystem::path users_csv;
    int unseen_users = 20;
    std::uint64_t seed = 2025;
    int prompts = 200;
    std::vector<int> levels = {0, 1, 2, 3, 4, 5};
    int steps = 25;
    double guidance_scale = 7.5;
    double adapter_scale = 1.0; ///< the adapter's strength at every level with a profile (0-10)
    std::string sampler;        ///< empty: the request default
    std::string device = "auto";

    /// Throws InvalidRequest naming the option.
    void validate() const;
};

/// One held-out prompt: what it asks for and the user it is also generated for.
struct WorldEvalPrompt {
    std::string caption;
    int subject = -1;
    std::vector<int> concepts; ///< harmful concepts asked for (1-2, different categories)
    std::string unseen_user;
};

struct WorldEvalLevel {
    int level = 0;
    std::string label;               ///< "L0".."L5"
    std::vector<std::string> banned; ///< the level preset's bans
    LevelMetrics metrics;
    std::vector<JudgedPrompt> judged; ///< per prompt, in prompt order: what the judge saw
};

struct WorldEvalReport {
    Outcome outcome = Outcome::Completed;
    WorldEvalOptions options;
    bool adapter_used = false;
    std::vector<std::string> categories;
    std::vector<std::string> concept_ids; ///< the world's concepts, in its index order
    std::vector<WorldEvalLevel> levels;
    std::optional<double> pass_rate_unseen_adapter; ///< empty without an adapter
    std::optional<double> pass_rate_unseen_base;
    std::optional<PassFailures> pass_failures_unseen_adapter; ///< why unseen items fail; empty without an adapter
    std::optional<PassFailures> pass_failures_unseen_base;
    /// Per prompt, what the judge saw in the unseen user's image; empty without an adapter (the
    /// user's image is then L0's).
    std::vector<JudgedPrompt> unseen_judged;
    int unseen_users = 0;
    std::vector<WorldEvalPrompt> prompts;
    double seconds = 0;
};

/// The held-out prompts of a seed: each asks for 1 or 2 harmful concepts of different categories.
/// Same spec and seed, same prompts.
std::vector<WorldEvalPrompt> world_eval_prompts(const WorldSpec& spec, std::uint64_t seed, int count);

/// Loads the model, adapter and judge, generates every prompt (seed + i) for the levels and for
/// its unseen user in one batched request, and computes the metrics. Reports Stage::Evaluate per
/// prompt; a stop request returns Cancelled (within one denoise step).
WorldEvalReport run_world_evaluation(const WorldEvalOptions& options, JobControl& job);

/// The report as JSON: per_level {ip, ip_per_category, subject_accuracy, banned_motif_rate,
/// allowed_motif_rate, ...}, pass_rate_unseen {adapter, base, failures}, the settings used, and
/// prompt_list: per prompt, the concepts it asks for and those the judge saw at each level.
std::string world_eval_report_json(const WorldEvalReport& report);

} // namespace psa
