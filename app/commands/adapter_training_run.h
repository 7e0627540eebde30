// SPDX-License-Identifier: GPL-3.0-or-later
// One personalized Diffusion-DPO run from the command line, shared by `psa train` (any model and
// Sage split) and `psa world train-adapter` (the demo model on a generated world): the options
// both accept, and the run itself with its progress line, Ctrl-C and an optional time budget.
#pragma once
#include "command_line.h"

#include "training/train_config.h"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace psa::app {

/// What differs between the DPO training commands; everything else (the schedule, adapter,
/// precision and device options, --minutes, --resume, Ctrl-C) is shared.
struct AdapterTrainingCommand {
    std::string name;                      ///< for the usage line, e.g. "world train-adapter"
    std::string synopsis;
    std::vector<OptionSpec> leading_specs; ///< model, data and out, in the command's own words
    TrainConfig fresh;                     ///< the settings of a new run before options apply
    /// --data as given -> the split folder the trainer reads (empty: used as given). Throws
    /// InvalidRequest naming the option for a folder it cannot use.
    std::function<std::string(const std::filesystem::path&)> data_folder;
    std::string help_text;                 ///< printed under the options, ends with a newline
};

/// Parses `args` and runs one DPO training sitting: a resumed run starts from the settings stored
/// in --out, a new one from command.fresh, and options given override either. Prints the
/// adapter's path on stdout. `--minutes` ends the sitting, with a checkpoint, before the next step
/// would pass it (loading counts). Returns 0 when the run completed, kExitBudgetReached at the
/// budget, 130 when stopped by Ctrl-C.
int run_adapter_training_command(const std::vector<std::string>& args, const AdapterTrainingCommand& command);

} // namespace psa::app
