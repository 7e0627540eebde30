// SPDX-License-Identifier: GPL-3.0-or-later
// The plain-text parts of resuming a run, shared by DPO runs and pretraining stages: our mt19937
// as the text kept in state.json, and train_log.jsonl cut back to the checkpoint's step.
#pragma once
#include <filesystem>
#include <functional>
#include <random>
#include <string>

namespace psa {

/// The generator's full state as text (the standard's operator<< form).
std::string mt19937_text(const std::mt19937& rng);

/// Restores a state written by mt19937_text(); ConfigError naming `where` when unreadable.
void restore_mt19937(std::mt19937& rng, const std::string& text, const std::string& where);

/// Rewrites the JSON-lines log at `path` (atomically; a missing file is fine) without the lines
/// past `last_step` for which `is_own_line` holds (all lines when it is empty); lines with no
/// "step" go.
void truncate_step_log(const std::filesystem::path& path, int last_step,
                       const std::function<bool(const std::string& line)>& is_own_line = {});

} // namespace psa
