// SPDX-License-Identifier: GPL-3.0-or-later
// One personalized Diffusion-DPO run from the command line, shared by `psa train` (any model and
// Sage split) and `psa world train-adapter` (the demo model on a generated world): the options
// both accept, and the run itself with its progress line, Ctrl-C and an optional time budget.
#pragma once
#include "command_line.h"

#include "training/train_config.h"

#include <filesystem>
#include <vector>

namespace psa::app {

/// The schedule, adapter, precision and device options of a DPO run (not model, data, out,
/// resume or help, whose wording differs per command).
std::vector<OptionSpec> adapter_training_option_specs();

/// The settings a run starts from: `fresh` for a new run; with `resume`, the ones stored in the
/// newest checkpoint of `out` (or its config.json). Throws InvalidRequest when `out` holds no run.
TrainConfig starting_train_config(const std::filesystem::path& out, bool resume, const TrainConfig& fresh);

/// Options given on the command line override `config`. --init-adapter also takes the file's
/// user-token count unless --num-tokens is given (InvalidRequest naming the option when the file
/// is not a readable adapter).
void apply_adapter_training_options(const CommandLine& cl, TrainConfig& config);

/// Loads config.model, trains into `out` (continuing its newest checkpoint when `resume`) and
/// prints the adapter's path on stdout. `budget_seconds` > 0 ends the sitting, with a checkpoint,
/// before the next step would pass it (loading counts). Returns 0 when the run completed,
/// kExitBudgetReached at the budget, 130 when stopped by Ctrl-C.
int run_adapter_training(const CommandLine& cl, TrainConfig config, const std::filesystem::path& out, bool resume,
                         double budget_seconds);

} // namespace psa::app
