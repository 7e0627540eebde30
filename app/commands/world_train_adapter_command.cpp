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
#include <sstream>

namespace psa::app {

namespace fs = std::filesystem;

namespace {

// The demo recipe, the shipped adapter's (docs/demo-model.md): a 7 M-parameter model at 64 px
// learns from a few thousand pairs, so the reference's SD 1.5 settings (lr 5e-6, beta 5000 at 192
// pairs per step) would barely move it.
TrainConfig demo_adapter_defaults()
{
    TrainConfig c;
    c.model = (resource_dir() / "models" / "demo").string();
    c.steps = 1821;
    c.batch = 8;
    c.lr = 1e-3;
    c.warmup_steps = 50;
    // The decayed wider base of 2026-12-06 draws every motif; with the anchor over allowed pairs
    // and ban mixing it takes beta 75 to suppress them (docs/demo-model.md, fifteenth round).
    c.beta_dpo = 75;
    c.anchor_weight = 10;
    c.anchor_scope = kAnchorAllowedWhole;
    c.token_layout = kPerCategoryTokens;
    c.ban_mixing = 1;
    // The tokens start at their categories' captions, and a banned concept's place is trained to
    // its safe counterpart: the route from a motif to its token is there from the first step, and
    // a suppressed motif's place is not filled with an allowed category's (seventeenth round).
    c.token_start = kTokensStartAtCaptions;
    c.counterpart_weight = 5;
    c.counterpart_pairs = kCounterpartBannedPairs;
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
    AdapterTrainingCommand c;
    c.name = "world train-adapter";
    c.synopsis = "--data WORLD --out RUN_DIR [options]";
    c.leading_specs = {
        {"data", true, false, "generated world (its train split is read) or a Sage split folder (required for a new run)"},
        {"model", true, false, "base model (default: the bundled demo model)"},
        {"out", true, false, "run folder: checkpoints, config.json, final adapter.safetensors (required)"}};
    c.fresh = demo_adapter_defaults();
    c.data_folder = split_folder;
    const TrainConfig& d = c.fresh;
    std::ostringstream help;
    help << "Trains the demo model's PSA adapter with personalized Diffusion-DPO on the world's pairs.\n"
            "Defaults (the demo recipe): steps "
         << d.steps << ", batch " << d.batch << ", lr " << d.lr << ", warm-up " << d.warmup_steps << ", beta "
         << d.beta_dpo << ", anchor weight " << d.anchor_weight << " (scope " << d.anchor_scope << "), "
         << d.token_layout << " user tokens starting at " << d.token_start << ", ban mixing " << d.ban_mixing
         << ", counterpart weight " << d.counterpart_weight << " (" << d.counterpart_pairs << " pairs), caption dropout "
         << d.caption_dropout
         << ", user dropout " << d.user_dropout << ".\n";
    c.help_text = help.str();
    return run_adapter_training_command(args, c);
}

} // namespace psa::app
