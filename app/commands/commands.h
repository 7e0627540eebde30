// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <string>
#include <vector>

namespace psa::app {

/// A `psa` subcommand: takes its own arguments, returns the exit code. Errors are thrown as
/// psa::Error and printed by main as one line.
struct Command {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>& args);
};

const std::vector<Command>& all_commands();

int run_inspect(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_profile(const std::vector<std::string>& args);
int run_generate(const std::vector<std::string>& args);
int run_previews(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
int run_convert(const std::vector<std::string>& args);
/// `psa world ...`: the synthetic Sage-mini world (generate, train-judge, judge-accuracy, eval).
int run_world(const std::vector<std::string>& args);
/// `psa world train-base` (routed by the world command): trains the demo base model from scratch.
int run_world_train_base(const std::vector<std::string>& args);
/// `psa world train-adapter`: the demo model's PSA adapter, DPO on a generated world's train split.
int run_world_train_adapter(const std::vector<std::string>& args);

} // namespace psa::app
