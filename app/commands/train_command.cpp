// SPDX-License-Identifier: GPL-3.0-or-later
// `psa train`: personalized Diffusion-DPO fine-tuning of a safety adapter on Sage-format pairs,
// with a one-line progress display on stderr; Ctrl-C (or the end of --minutes) stops within one
// step and leaves a checkpoint that --resume continues.
#include "command_line.h"
#include "commands/adapter_training_run.h"
#include "commands/commands.h"

#include "training/train_config.h"

#include <filesystem>
#include <iostream>

namespace psa::app {

namespace fs = std::filesystem;

int run_train(const std::vector<std::string>& args)
{
    std::vector<OptionSpec> specs = {
        {"model", true, false, "diffusers folder or single-file .safetensors (required for a new run)"},
        {"data", true, false, "Sage split folder with metadata.jsonl (required for a new run)"},
        {"out", true, false, "run folder: checkpoints, samples, final adapter.safetensors (required)"}};
    for (auto& s : adapter_training_option_specs())
        specs.push_back(std::move(s));
    specs.push_back({"resume", false, false, "continue the run in --out from its newest checkpoint"});
    specs.push_back({"help", false, false, "show this help"});
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        const TrainConfig d;
        std::cout << usage_text("train", "--model PATH --data DIR --out DIR [options]", specs)
                  << "Trains a PSA safety adapter with personalized Diffusion-DPO; only the adapter trains.\n"
                     "Defaults are the reference SD 1.5 recipe: steps "
                  << d.steps << ", batch " << d.batch << ", lr " << d.lr << ", warm-up " << d.warmup_steps
                  << ", beta " << d.beta_dpo << ", " << d.num_tokens
                  << " user token; small models want more (the tiny test model trains at lr 5e-3, beta 50).\n"
                     "Ctrl-C stops within one step and writes a checkpoint; --resume continues it.\n";
        return 0;
    }
    const fs::path out = cl.require("out");
    const bool resume = cl.has("resume");
    auto config = starting_train_config(out, resume, TrainConfig{});
    if (cl.has("model"))
        config.model = cl.get("model");
    if (cl.has("data"))
        config.data_dir = cl.get("data");
    apply_adapter_training_options(cl, config);
    return run_adapter_training(cl, config, out, resume, cl.get_double("minutes", 0) * 60.0);
}

} // namespace psa::app
