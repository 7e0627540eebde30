// SPDX-License-Identifier: GPL-3.0-or-later
// `psa world train-base`: trains the demo base model from scratch on a world folder, stage by
// stage (vocab, vae, unet, decoder, export), in resumable chunks: Ctrl-C or the end of --minutes writes a
// checkpoint that --resume continues. One progress line on stderr; per-step lines in
// RUN/train_log.jsonl.
#include "command_line.h"
#include "commands/commands.h"
#include "commands/interrupt.h"
#include "commands/training_console.h"

#include "common/error.h"
#include "pretrain/caption_image_set.h"
#include "pretrain/pretrain_run.h"
#include "pretrain/pretrain_trainer.h"
#include "profiles/categories.h"
#include "tensor_io/device.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

namespace psa::app {

namespace fs = std::filesystem;

namespace {

void print_step(const PretrainStepStats& s)
{
    std::fprintf(stderr, "\r[%s] step %d/%d  loss %.5f  (%s)  lr %.2g  %.2f it/s  ETA %s   ",
                 pretrain_stage_name(s.stage), s.step, s.total_steps, s.loss, s.terms.c_str(), s.lr,
                 s.steps_per_second, clock_text(s.eta_seconds).c_str());
    finish_progress_line(s.step, s.total_steps);
}

// One line when a loading or encoding stage starts and when it ends.
void print_progress(const Progress& p)
{
    if (p.stage != Stage::Load && p.stage != Stage::Encode && p.stage != Stage::Save)
        return;
    std::fprintf(stderr, "\r%s %s %d/%d%s", stage_name(p.stage), p.detail.c_str(), p.step, p.total,
                 p.step == p.total ? "\n" : "   ");
    std::fflush(stderr);
}

struct Options {
    fs::path run;
    fs::path data;
    std::string stage = "all";
    bool resume = false;
    double budget_seconds = 0;
    c10::Device device{c10::kCPU};
    const CommandLine* cl = nullptr;
};

// The stage's settings: a resumed stage keeps its stored ones; options given override either.
PretrainConfig stage_config(const Options& o, PretrainStage stage)
{
    const auto& cl = *o.cl;
    PretrainConfig c = PretrainConfig::defaults(stage);
    if (o.resume)
        if (const auto ck = PretrainTrainer::latest_checkpoint(o.run, stage))
            c = PretrainTrainer::stored_config(*ck);
    c.steps = cl.get_int("steps", c.steps);
    c.batch = cl.get_int("batch", c.batch);
    c.lr = cl.get_double("lr", c.lr);
    c.warmup_steps = cl.get_int("warmup", c.warmup_steps);
    c.lr_decay_from = cl.get_int("decay-from", c.lr_decay_from);
    c.checkpoint_every = cl.get_int("checkpoint-every", c.checkpoint_every);
    if (cl.has("seed"))
        c.seed = static_cast<std::uint64_t>(cl.get_int("seed", 0));
    if (stage == PretrainStage::Unet) {
        c.caption_dropout = cl.get_double("caption-dropout", c.caption_dropout);
        c.ema_decay = cl.get_double("ema-decay", c.ema_decay);
        c.init_from = cl.get("init-from", c.init_from);
    }
    if (stage != PretrainStage::Vae)
        c.focus_weight = cl.get_double("focus-weight", c.focus_weight);
    if (stage != PretrainStage::Unet)
        c.edge_weight = cl.get_double("edge-weight", c.edge_weight);
    if (stage == PretrainStage::Vae)
        c.kl_weight = cl.get_double("kl-weight", c.kl_weight);
    c.validate();
    return c;
}

// Trains one stage for as long as the sitting allows. Returns the exit status (0 when the stage
// reached its last step).
int run_stage(const Options& o, PretrainStage stage, const CaptionImageSet& data, JobControl& job,
              const std::chrono::steady_clock::time_point& sitting_start)
{
    const auto config = stage_config(o, stage);
    const auto existing = PretrainTrainer::latest_checkpoint(o.run, stage);
    const char* name = pretrain_stage_name(stage);
    // The VAE and decoder stages are finished once their final folder is written too.
    const bool finished = existing && PretrainTrainer::stored_step(*existing) >= config.steps &&
                          (stage == PretrainStage::Unet ||
                           fs::exists(o.run / name / "final" / "diffusion_pytorch_model.safetensors"));
    if (o.stage == "all" && finished) {
        std::cerr << "[" << name << "] already at step " << config.steps << ": skipped\n";
        return 0;
    }
    PretrainTrainer trainer(stage, o.run, data, config, job, o.device);
    std::cerr << "[" << name << "] " << trainer.parameter_count() << " trainable parameters, " << data.size()
              << " images, batch " << config.batch << ", on " << o.device.str() << "\n";
    if (o.resume) {
        if (trainer.resume())
            std::cerr << "[" << name << "] resuming at step " << trainer.step() << "/" << config.steps << "\n";
        else
            std::cerr << "[" << name << "] no checkpoint yet: starting at step 0\n";
    }
    double budget = 0;
    if (o.budget_seconds > 0) {
        budget = o.budget_seconds -
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - sitting_start).count();
        if (budget <= 0) {
            std::cerr << "[" << name << "] the time budget is spent; continue with --resume\n";
            return kExitBudgetReached;
        }
    }
    const auto result = trainer.train(job, print_step, budget);
    if (result.outcome == Outcome::Cancelled) {
        print_stopped_run(std::string("[") + name + "] " + (result.budget_reached ? "time budget reached" : "stopped"),
                          result.steps_done, config.steps, result.last_checkpoint);
        return result.budget_reached ? kExitBudgetReached : 130;
    }
    std::cerr << "[" << name << "] done: " << result.steps_done - result.first_step << " steps in "
              << clock_text(result.seconds) << "\n";
    return 0;
}

} // namespace

int run_world_train_base(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"data", true, false, "world folder (base/metadata.jsonl) or imagefolder with metadata.jsonl"},
        {"out", true, false,
         "run folder: arch/, tokenizer/, vae/, unet/, decoder/, model/, train_log.jsonl (required)"},
        {"stage", true, false,
         "vocab|vae|unet|decoder|export|all (default all: each in turn, finished ones skipped); decoder "
         "fine-tunes the VAE decoder on the frozen encoder after the UNet, and the export ships it"},
        {"steps", true, false,
         "optimizer steps of the stage (default: vae 3000, unet 20000, decoder 2000; with all: each)"},
        {"minutes", true, false, "time budget of this sitting; at its end a checkpoint is written and the "
                                 "command exits with status 75 (continue with --resume)"},
        {"batch", true, false, "images per step (default: vae 16, unet 32, decoder 16)"},
        {"lr", true, false, "AdamW peak learning rate (default: vae 2e-4, unet 3e-4, decoder 1e-4)"},
        {"warmup", true, false, "linear warm-up steps (default: vae 100, unet 500, decoder 50)"},
        {"decay-from", true, false, "step from which the lr falls along a half cosine to 0 at the last "
                                    "step (default: decoder 0, others none; a resumed stage may add it)"},
        {"checkpoint-every", true, false, "steps between checkpoints (default 200)"},
        {"seed", true, false, "seed of the stage (default 0)"},
        {"caption-dropout", true, false, "unet: probability of the empty caption (default 0.1)"},
        {"ema-decay", true, false, "unet: EMA decay of the exported UNet, 0 = off (default 0.999)"},
        {"focus-weight", true, false, "unet, decoder: loss weight of the metadata's focus_boxes (the world's "
                                      "subject and motifs) against 1 for the background; 1 = plain loss "
                                      "(default; a resumed stage may change it)"},
        {"init-from", true, false, "unet: start from this exported model's text encoder and UNet (a warm restart; "
                                   "its tokenizer and configs must be the run's)"},
        {"kl-weight", true, false, "vae: weight of the KL term (default 1e-5)"},
        {"edge-weight", true, false, "vae, decoder: weight of the edge (image gradient) L1 term (default 0.1)"},
        {"arch", true, false, "architecture configs for a new run (default: the bundled models/demo)"},
        {"export-to", true, false, "export folder (default RUN/model)"},
        {"device", true, false, "auto|cpu|cuda|cuda:N (default auto: CUDA when available; a resume continues bit "
                                "for bit only on the CPU with the same thread count)"},
        {"threads", true, false, "CPU threads (default: every core, or $PSA_THREADS)"},
        {"resume", false, false, "continue the stages' newest checkpoints"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("world train-base", "--data DIR --out RUN_DIR [options]", specs)
                  << "Trains the demo model from scratch: a BPE vocabulary of the captions, the VAE, then the\n"
                     "text encoder and UNet on the VAE's latents, then the VAE decoder alone on the same latents,\n"
                     "and exports a diffusers folder (fp16).\n"
                     "Ctrl-C stops within one step and writes a checkpoint; --resume continues it.\n";
        return 0;
    }
    Options o;
    o.cl = &cl;
    o.run = cl.require("out");
    o.stage = cl.get("stage", "all");
    o.resume = cl.has("resume");
    o.budget_seconds = cl.get_double("minutes", 0) * 60.0;
    if (o.stage != "vocab" && o.stage != "vae" && o.stage != "unet" && o.stage != "decoder" && o.stage != "export" &&
        o.stage != "all")
        throw InvalidRequest("option --stage: \"" + o.stage +
                             "\" is not one of vocab, vae, unet, decoder, export, all");
    if (o.budget_seconds < 0)
        throw InvalidRequest("option --minutes: must not be negative");
    configure_threads(cl.get_int("threads", 0));
    o.device = choose_device(cl.get("device", "auto"));

    const auto sitting_start = std::chrono::steady_clock::now();
    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_progress);
    prepare_run(o.run, cl.has("arch") ? fs::path(cl.get("arch")) : resource_dir() / "models" / "demo");

    std::optional<CaptionImageSet> data;
    if (o.stage != "export") {
        if (!cl.has("data"))
            throw InvalidRequest("option --data is required for --stage " + o.stage);
        data = CaptionImageSet::load(cl.get("data"));
        std::cerr << "data: " << data->size() << " images from " << data->metadata_path().string() << "\n";
    }
    if (o.stage == "vocab" || o.stage == "all") {
        const auto v = learn_run_vocabulary(o.run, *data);
        std::cerr << "[vocab] " << (v.learned ? "learned " : "kept ") << v.vocab_size << " tokens (" << v.merges
                  << " merges); longest caption " << v.longest_caption_tokens << " tokens\n";
    }
    for (const auto stage : {PretrainStage::Vae, PretrainStage::Unet, PretrainStage::Decoder}) {
        if (o.stage != "all" && o.stage != pretrain_stage_name(stage))
            continue;
        if (const int status = run_stage(o, stage, *data, job, sitting_start); status != 0)
            return status;
    }
    if (o.stage == "export" || o.stage == "all") {
        const auto e = export_demo_model(o.run, cl.get("export-to"), job);
        std::cerr << "[export] " << e.parameters << " parameters, " << e.bytes << " bytes of fp16 weights, UNet step "
                  << e.unet_step << (e.ema ? " (EMA)" : "")
                  << (e.tuned_decoder ? ", VAE with the tuned decoder" : "") << "\n";
        std::cout << e.folder.string() << "\n";
    }
    return 0;
}

} // namespace psa::app
