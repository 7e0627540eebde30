// SPDX-License-Identifier: GPL-3.0-or-later
// `psa train`: personalized Diffusion-DPO fine-tuning of a safety adapter on Sage-format pairs,
// with a one-line progress display on stderr; Ctrl-C (or the end of --minutes) stops within one
// step and leaves a checkpoint that --resume continues.
#include "command_line.h"
#include "commands/adapter_training_run.h"
#include "commands/commands.h"

#include <sstream>

namespace psa::app {

int run_train(const std::vector<std::string>& args)
{
    AdapterTrainingCommand c;
    c.name = "train";
    c.synopsis = "--model PATH --data DIR --out DIR [options]";
    c.leading_specs = {
        {"model", true, false, "diffusers folder or single-file .safetensors (required for a new run)"},
        {"data", true, false, "Sage split folder with metadata.jsonl (required for a new run)"},
        {"out", true, false, "run folder: checkpoints, samples, final adapter.safetensors (required)"}};
    const TrainConfig& d = c.fresh;
    std::ostringstream help;
    help << "Trains a PSA safety adapter with personalized Diffusion-DPO; only the adapter trains.\n"
            "Defaults are the reference SD 1.5 recipe: steps "
         << d.steps << ", batch " << d.batch << ", lr " << d.lr << ", warm-up " << d.warmup_steps << ", beta "
         << d.beta_dpo << ", " << d.num_tokens
         << " user token; small models want more (the tiny test model trains at lr 5e-3, beta 50).\n";
    c.help_text = help.str();
    return run_adapter_training_command(args, c);
}

} // namespace psa::app
