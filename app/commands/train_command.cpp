// SPDX-License-Identifier: GPL-3.0-or-later
// `psa train`: personalized Diffusion-DPO fine-tuning of a safety adapter on Sage-format pairs,
// with a one-line progress display on stderr; Ctrl-C stops within one step and leaves a
// checkpoint that --resume continues.
#include "command_line.h"
#include "commands/commands.h"
#include "commands/interrupt.h"
#include "commands/training_console.h"

#include "common/error.h"
#include "pipeline/model_loading.h"
#include "tensor_io/device.h"
#include "training/preference_dataset.h"
#include "training/trainer.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace psa::app {

namespace fs = std::filesystem;

namespace {

void print_step(const TrainStepStats& s)
{
    std::fprintf(stderr, "\rstep %d/%d  loss %.4f  acc %.2f  lr %.2g  %.2f it/s  ETA %s   ", s.step, s.total_steps,
                 s.loss, s.accuracy, s.lr, s.steps_per_second, clock_text(s.eta_seconds).c_str());
    finish_progress_line(s.step, s.total_steps);
}

void print_load(const Progress& p)
{
    if (p.stage == Stage::Load && p.step < p.total) {
        std::fprintf(stderr, "loading %s...\n", p.detail.c_str());
        std::fflush(stderr);
    }
}

// Options given on the command line override `c`.
void apply_options(const CommandLine& cl, TrainConfig& c)
{
    if (cl.has("model"))
        c.model = cl.get("model");
    if (cl.has("data"))
        c.data_dir = cl.get("data");
    if (cl.has("embeds")) {
        c.embeds_dir = cl.get("embeds");
        c.profile_encoder = "precomputed";
    }
    c.steps = cl.get_int("steps", c.steps);
    c.batch = cl.get_int("batch", c.batch);
    c.grad_accum = cl.get_int("accum", c.grad_accum);
    c.lr = cl.get_double("lr", c.lr);
    c.warmup_steps = cl.get_int("warmup", c.warmup_steps);
    c.beta_dpo = cl.get_double("beta", c.beta_dpo);
    c.checkpoint_every = cl.get_int("checkpoint-every", c.checkpoint_every);
    c.sample_every = cl.get_int("sample-every", c.sample_every);
    c.num_tokens = cl.get_int("num-tokens", c.num_tokens);
    c.resolution = cl.get_int("resolution", c.resolution);
    c.caption_dropout = cl.get_double("caption-dropout", c.caption_dropout);
    c.user_dropout = cl.get_double("user-dropout", c.user_dropout);
    if (cl.has("seed"))
        c.seed = static_cast<std::uint64_t>(cl.get_int("seed", 0));
    if (cl.has("strict"))
        c.strict = true;
    if (cl.has("device"))
        c.device = cl.get("device");
    if (cl.has("mixed-precision"))
        c.mixed_precision = cl.get("mixed-precision");
    for (const auto& p : cl.get_all("sample-prompt"))
        c.sample_prompts.push_back(p);
}

} // namespace

int run_train(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"model", true, false, "diffusers folder or single-file .safetensors (required for a new run)"},
        {"data", true, false, "Sage split folder with metadata.jsonl (required for a new run)"},
        {"embeds", true, false, "folder of {User_ID}.npy user embeddings (default: structured profile encoder)"},
        {"out", true, false, "run folder: checkpoints, samples, final adapter.safetensors (required)"},
        {"steps", true, false, "optimizer steps (default 1000)"},
        {"batch", true, false, "pairs per micro-batch (default 1)"},
        {"accum", true, false, "micro-batches per optimizer step (default 1)"},
        {"lr", true, false, "AdamW learning rate (default 5e-6, the reference's at 192 pairs per step; "
                            "small models want more: the tiny test model trains at 5e-3 with --beta 50)"},
        {"warmup", true, false, "linear warm-up steps, then constant (default 500)"},
        {"beta", true, false, "DPO beta (default 5000)"},
        {"checkpoint-every", true, false, "steps between checkpoints (default 100; 0 = only at the end)"},
        {"sample-every", true, false, "steps between sample images at fixed seeds (default 0 = none)"},
        {"sample-prompt", true, true, "prompt for sample images (repeatable; default: the first caption)"},
        {"num-tokens", true, false, "user tokens of the adapter (default 1, as the reference)"},
        {"resolution", true, false, "training size in pixels (default: the model's)"},
        {"caption-dropout", true, false, "probability of an empty caption (default 0.2)"},
        {"user-dropout", true, false, "probability of the null user (default 0.1)"},
        {"seed", true, false, "seed of the run (default 0)"},
        {"tokenizer", true, false, "tokenizer folder for single-file checkpoints"},
        {"device", true, false, "auto|cpu|cuda|cuda:N (default auto)"},
        {"mixed-precision", true, false, "auto|no|bf16|fp16: CUDA autocast over fp32 weights (default auto = bf16; "
                                         "the CPU trains in fp32)"},
        {"resume", false, false, "continue the run in --out from its newest checkpoint"},
        {"strict", false, false, "fail on a missing image instead of skipping its pair"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("train", "--model PATH --data DIR --out DIR [options]", specs)
                  << "Trains a PSA safety adapter with personalized Diffusion-DPO; only the adapter trains.\n"
                     "Ctrl-C stops within one step and writes a checkpoint; --resume continues it.\n";
        return 0;
    }
    const fs::path out = cl.require("out");
    const bool resume = cl.has("resume");
    TrainConfig config;
    if (resume) {
        const auto ck = DpoTrainer::latest_checkpoint(out);
        if (ck)
            config = DpoTrainer::stored_config(*ck);
        else if (fs::is_regular_file(out / "config.json"))
            config = DpoTrainer::stored_config(out);
        else
            throw InvalidRequest("--resume: " + out.string() + " holds no training run");
    }
    apply_options(cl, config);
    if (config.model.empty())
        throw InvalidRequest("option --model is required");
    if (config.data_dir.empty())
        throw InvalidRequest("option --data is required");
    config.validate();

    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_load);
    LoadModelOptions lo;
    lo.device = config.device;
    lo.tokenizer_dir = cl.get("tokenizer");
    const auto device = choose_device(config.device);
    if (device.is_cpu() || config.mixed_precision == "no")
        lo.dtype = "fp32";
    else
        lo.dtype = config.mixed_precision == "fp16" ? "fp16" : "bf16";
    auto model = load_model(config.model, lo, job);
    if (!model)
        return 130;

    DpoTrainer trainer(model, config, out);
    const auto& report = trainer.dataset().report();
    std::cerr << "data: " << report.pairs << " pairs, " << trainer.dataset().users().size() << " users";
    if (report.skipped_missing)
        std::cerr << ", " << report.skipped_missing << " skipped (missing images)";
    std::cerr << "\n";
    if (resume) {
        if (trainer.resume())
            std::cerr << "resuming at step " << trainer.step() << "/" << config.steps << "\n";
        else
            std::cerr << "no checkpoint in " << out.string() << " yet: starting at step 0\n";
    }
    const auto result = trainer.train(job, print_step);
    if (result.outcome == Outcome::Cancelled) {
        print_stopped_run("stopped", result.steps_done, config.steps, result.last_checkpoint);
        return 130;
    }
    std::cout << result.adapter.string() << "\n";
    std::cerr << "done in " << clock_text(result.seconds) << "\n";
    return 0;
}

} // namespace psa::app
