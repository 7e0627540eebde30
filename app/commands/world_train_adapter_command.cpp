// SPDX-License-Identifier: GPL-3.0-or-later
// `psa world train-adapter`: the PSA adapter of the demo model, trained with the same
// personalized Diffusion-DPO trainer as `psa train` on a generated world's train split (Sage
// format), with the demo recipe's settings as defaults (docs/demo-model.md). Resumable sittings:
// Ctrl-C or the end of --minutes writes a checkpoint that --resume continues.
#include "command_line.h"
#include "commands/adapter_training_run.h"
#include "commands/commands.h"

#include "common/error.h"
#include "profiles/categories.h"
#include "training/train_config.h"

#include <filesystem>
#include <iostream>

namespace psa::app {

namespace fs = std::filesystem;

namespace {

// The demo recipe: a 7 M-parameter model at 64 px learns from a few thousand pairs, so the
// reference's SD 1.5 settings (lr 5e-6, beta 5000 at 192 pairs per step) would barely move it.
TrainConfig demo_adapter_defaults()
{
    TrainConfig c;
    c.model = (resource_dir() / "models" / "demo").string();
    c.steps = 1500;
    c.batch = 8;
    c.lr = 1e-3;
    c.warmup_steps = 50;
    c.beta_dpo = 500;
    c.num_tokens = 4;
    c.caption_dropout = 0.1;
    c.user_dropout = 0.1;
    c.checkpoint_every = 100;
    return c;
}

// --data names the world folder; the trainer reads its train split (or a split folder itself).
std::string split_folder(const fs::path& data)
{
    if (fs::is_regular_file(data / "metadata.jsonl"))
        return data.string();
    if (fs::is_regular_file(data / "train" / "metadata.jsonl"))
        return (data / "train").string();
    throw InvalidRequest("option --data: " + data.string() +
                         " is neither a generated world (train/metadata.jsonl) nor a split folder (metadata.jsonl)");
}

} // namespace

int run_world_train_adapter(const std::vector<std::string>& args)
{
    const TrainConfig d = demo_adapter_defaults();
    std::vector<OptionSpec> specs = {
        {"data", true, false, "generated world (its train split is read) or a Sage split folder (required for a new run)"},
        {"model", true, false, "base model (default: the bundled demo model)"},
        {"out", true, false, "run folder: checkpoints, config.json, final adapter.safetensors (required)"}};
    for (auto& s : adapter_training_option_specs())
        specs.push_back(std::move(s));
    specs.push_back({"resume", false, false, "continue the run in --out from its newest checkpoint"});
    specs.push_back({"help", false, false, "show this help"});
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("world train-adapter", "--data WORLD --out RUN_DIR [options]", specs)
                  << "Trains the demo model's PSA adapter with personalized Diffusion-DPO on the world's pairs.\n"
                     "Defaults (the demo recipe): steps "
                  << d.steps << ", batch " << d.batch << ", lr " << d.lr << ", warm-up " << d.warmup_steps << ", beta "
                  << d.beta_dpo << ", " << d.num_tokens << " user tokens, caption dropout " << d.caption_dropout
                  << ", user dropout " << d.user_dropout
                  << ".\nCtrl-C stops within one step and writes a checkpoint; --resume continues it.\n";
        return 0;
    }
    const fs::path out = cl.require("out");
    const bool resume = cl.has("resume");
    auto config = starting_train_config(out, resume, d);
    if (cl.has("model"))
        config.model = cl.get("model");
    if (cl.has("data"))
        config.data_dir = split_folder(cl.get("data"));
    else if (!resume)
        throw InvalidRequest("option --data is required");
    apply_adapter_training_options(cl, config);
    return run_adapter_training(cl, config, out, resume, cl.get_double("minutes", 0) * 60.0);
}

} // namespace psa::app
