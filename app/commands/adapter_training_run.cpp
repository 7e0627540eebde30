// SPDX-License-Identifier: GPL-3.0-or-later
#include "commands/adapter_training_run.h"

#include "commands/interrupt.h"
#include "commands/training_console.h"

#include "adapter/adapter_file_info.h"
#include "adapter/token_layout.h"
#include "common/error.h"
#include "pipeline/model_loading.h"
#include "tensor_io/device.h"
#include "training/preference_dataset.h"
#include "training/trainer.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <stop_token>

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

double seconds_since(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<OptionSpec> adapter_training_option_specs()
{
    return {
        {"embeds", true, false, "folder of {User_ID}.npy user embeddings (default: structured profile encoder)"},
        {"steps", true, false, "optimizer steps"},
        {"batch", true, false, "pairs per micro-batch"},
        {"accum", true, false, "micro-batches per optimizer step"},
        {"lr", true, false, "AdamW learning rate"},
        {"warmup", true, false, "linear warm-up steps, then constant"},
        {"decay-from", true, false, "step from which the lr falls along a half cosine to 0 at the last step "
                                    "(default: none; a resumed run may add it)"},
        {"beta", true, false, "DPO beta"},
        {"sft-weight", true, false, "weight of the chosen image's denoising error added to the DPO loss (0 = pure DPO)"},
        {"anchor-weight", true, false, "weight of the policy's distance from the reference where the pair's images "
                                       "agree (0 = off)"},
        {"anchor-scope", true, false, "where the anchor holds: agreement (the cells where the pair's images agree), "
                                      "or allowed (also the whole of both images where the user allows the pair's "
                                      "category; needs each line's category)"},
        {"counterpart-weight", true, false, "weight of the chosen image's denoising error where the pair's images "
                                            "differ: the safe counterpart a banned concept becomes (0 = off)"},
        {"counterpart-pairs", true, false, "pairs the counterpart term covers: all, or banned (those whose user bans "
                                           "the pair's category; needs each line's category)"},
        {"ban-mixing", true, false, "probability per pair that the other categories' bans come from another user "
                                    "of the set, so that each category's token learns alone (per-category tokens; "
                                    "needs each line's category; 0 = off)"},
        {"routing-weight", true, false, "weight of the cross-entropy of the user attention at each pair's concept "
                                        "against its category's token, so a motif's place reads its own token "
                                        "(per-category tokens; needs each line's category; 0 = off)"},
        {"routing-steps", true, false, "steps at the start that train the routing term alone, value maps kept "
                                       "still, so a new adapter changes no image meanwhile (needs --routing-weight)"},
        {"token-start", true, false, "random (the reference: the user attention starts alike for every token) or "
                                     "captions (per-category tokens: each token starts at its category's captions and "
                                     "the user keys at the text keys, so a motif's place starts on its own token; "
                                     "needs each line's category)"},
        {"sink-token", false, false, "per-category tokens: add a token that reads no ban, where places with nothing "
                                     "to suppress can send their user attention"},
        {"ban-gated-tokens", false, false, "per-category tokens: multiply each token by its category's ban, so an "
                                           "allowed category's token is zero and only banned ones act (with "
                                           "--init-adapter: the file's)"},
        {"freeze-user-keys", false, false, "keep the user key maps where they start (with the caption start: at the "
                                           "text keys), so each motif's place keeps its own category's token"},
        {"own-user-query", false, false, "give each layer's user attention a query map of its own, starting at the "
                                         "text query map (our extension; with --init-adapter: the file's)"},
        {"ema-decay", true, false, "decay of a moving average of the adapter's weights, which the run exports "
                                   "(0 = off: the last weights)"},
        {"checkpoint-every", true, false, "steps between checkpoints (0 = only at the end)"},
        {"keep-checkpoints", true, false,
         "newest checkpoints kept (default " + std::to_string(TrainConfig{}.keep_checkpoints) + ")"},
        {"sample-every", true, false, "steps between sample images at fixed seeds (0 = none)"},
        {"sample-prompt", true, true, "prompt for sample images (repeatable; default: the first caption)"},
        {"num-tokens", true, false, "user tokens of a dense adapter (the reference uses 1; implies --token-layout "
                                    "dense; with --init-adapter: the file's)"},
        {"token-layout", true, false, "dense (the reference: every token reads the whole profile) or per-category "
                                      "(one token per category, reading only its ban; with --init-adapter: the file's)"},
        {"init-adapter", true, false, "adapter .safetensors a new run starts from (fine-tunes it) instead of a fresh "
                                      "adapter; it decides the user tokens"},
        {"resolution", true, false, "training size in pixels (default: the model's)"},
        {"caption-dropout", true, false, "probability of an empty caption"},
        {"user-dropout", true, false, "probability of the null user"},
        {"seed", true, false, "seed of the run"},
        {"tokenizer", true, false, "tokenizer folder for single-file checkpoints"},
        {"device", true, false, "auto|cpu|cuda|cuda:N (default auto)"},
        {"mixed-precision", true, false, "auto|no|bf16|fp16: CUDA autocast over fp32 weights (default auto = bf16; "
                                         "the CPU trains in fp32)"},
        {"minutes", true, false, "time budget of this sitting; at its end a checkpoint is written and the "
                                 "command exits with status 75 (continue with --resume)"},
        {"strict", false, false, "fail on a missing image instead of skipping its pair"},
    };
}

TrainConfig starting_train_config(const fs::path& out, bool resume, const TrainConfig& fresh)
{
    if (!resume)
        return fresh;
    if (const auto ck = DpoTrainer::latest_checkpoint(out))
        return DpoTrainer::stored_config(*ck);
    if (fs::is_regular_file(out / "config.json"))
        return DpoTrainer::stored_config(out);
    throw InvalidRequest("--resume: " + out.string() + " holds no training run");
}

void apply_adapter_training_options(const CommandLine& cl, TrainConfig& c)
{
    if (cl.has("embeds")) {
        c.embeds_dir = cl.get("embeds");
        c.profile_encoder = "precomputed";
    }
    c.steps = cl.get_int("steps", c.steps);
    c.batch = cl.get_int("batch", c.batch);
    c.grad_accum = cl.get_int("accum", c.grad_accum);
    c.lr = cl.get_double("lr", c.lr);
    c.warmup_steps = cl.get_int("warmup", c.warmup_steps);
    c.lr_decay_from = cl.get_int("decay-from", c.lr_decay_from);
    c.beta_dpo = cl.get_double("beta", c.beta_dpo);
    c.sft_weight = cl.get_double("sft-weight", c.sft_weight);
    c.anchor_weight = cl.get_double("anchor-weight", c.anchor_weight);
    c.anchor_scope = cl.get("anchor-scope", c.anchor_scope);
    c.counterpart_weight = cl.get_double("counterpart-weight", c.counterpart_weight);
    c.counterpart_pairs = cl.get("counterpart-pairs", c.counterpart_pairs);
    c.ban_mixing = cl.get_double("ban-mixing", c.ban_mixing);
    c.routing_weight = cl.get_double("routing-weight", c.routing_weight);
    c.routing_steps = cl.get_int("routing-steps", c.routing_steps);
    c.token_start = cl.get("token-start", c.token_start);
    c.ema_decay = cl.get_double("ema-decay", c.ema_decay);
    c.checkpoint_every = cl.get_int("checkpoint-every", c.checkpoint_every);
    c.keep_checkpoints = cl.get_int("keep-checkpoints", c.keep_checkpoints);
    c.sample_every = cl.get_int("sample-every", c.sample_every);
    c.num_tokens = cl.get_int("num-tokens", c.num_tokens);
    if (cl.has("token-layout")) {
        c.token_layout = cl.get("token-layout");
        if (c.token_layout == kPerCategoryTokens && cl.has("num-tokens"))
            throw InvalidRequest("options --num-tokens and --token-layout per-category: the per-category layout has "
                                 "one token per category; leave out --num-tokens");
    } else if (cl.has("num-tokens") || cl.has("embeds")) {
        // A token count, and precomputed embeddings (which carry no per-category bans), are a
        // dense layout's, whatever the command's default.
        c.token_layout = kDenseTokens;
    }
    if (cl.has("init-adapter")) {
        c.init_adapter = cl.get("init-adapter");
        // The file decides the user tokens unless --num-tokens / --token-layout say otherwise; the
        // trainer then refuses a file that differs from the run, naming both.
        try {
            const auto info = read_adapter_file_info(c.init_adapter);
            if (!cl.has("num-tokens"))
                c.num_tokens = static_cast<int>(info.num_tokens);
            if (!cl.has("token-layout"))
                c.token_layout = info.token_layout;
            // A per-category file's sink token decides the run's, like its token count.
            if (c.token_layout == kPerCategoryTokens && !cl.has("sink-token"))
                c.sink_token = info.has_sink_token();
            if (!cl.has("own-user-query"))
                c.own_user_query = !info.query_dims.empty();
            if (!cl.has("ban-gated-tokens"))
                c.ban_gated_tokens = info.ban_gated_tokens;
        } catch (const Error& e) {
            throw InvalidRequest(std::string("option --init-adapter: ") + e.what());
        }
    }
    // Ban mixing is a per-category default (the demo recipe's); a run that chose a dense layout
    // drops it unless it was asked for, which validate() then refuses.
    if (c.token_layout != kPerCategoryTokens && !cl.has("ban-mixing"))
        c.ban_mixing = 0;
    // So is the caption start, which an adapter file to fine-tune also rules out.
    if ((c.token_layout != kPerCategoryTokens || !c.init_adapter.empty()) && !cl.has("token-start"))
        c.token_start = kTokensStartRandom;
    c.resolution = cl.get_int("resolution", c.resolution);
    c.caption_dropout = cl.get_double("caption-dropout", c.caption_dropout);
    c.user_dropout = cl.get_double("user-dropout", c.user_dropout);
    if (cl.has("seed"))
        c.seed = static_cast<std::uint64_t>(cl.get_int("seed", 0));
    if (cl.has("strict"))
        c.strict = true;
    if (cl.has("freeze-user-keys"))
        c.freeze_user_keys = true;
    if (cl.has("sink-token"))
        c.sink_token = true;
    if (cl.has("ban-gated-tokens"))
        c.ban_gated_tokens = true;
    if (cl.has("own-user-query"))
        c.own_user_query = true;
    if (cl.has("device"))
        c.device = cl.get("device");
    if (cl.has("mixed-precision"))
        c.mixed_precision = cl.get("mixed-precision");
    for (const auto& p : cl.get_all("sample-prompt"))
        c.sample_prompts.push_back(p);
}

// Loads config.model, trains into `out` and prints the adapter's path on stdout; see the header.
int run_adapter_training(const CommandLine& cl, TrainConfig config, const fs::path& out, bool resume,
                         double budget_seconds)
{
    const auto sitting_start = std::chrono::steady_clock::now();
    if (config.model.empty())
        throw InvalidRequest("option --model is required");
    if (config.data_dir.empty())
        throw InvalidRequest("option --data is required");
    if (budget_seconds < 0)
        throw InvalidRequest("option --minutes must be positive");
    config.validate();

    // Ctrl-C and the end of the time budget both stop the run the same way: within one step, with a
    // checkpoint. The budget stops before a step that would pass it, judged by the last step's time.
    InterruptGuard interrupt;
    std::stop_source stop;
    std::stop_callback forward_interrupt(interrupt.token(), [&stop] { stop.request_stop(); });
    bool budget_reached = false;
    JobControl job(stop.get_token(), print_load);
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
    if (trainer.step() == 0 && !config.init_adapter.empty())
        std::cerr << "starting from the adapter " << config.init_adapter << " (" << config.num_tokens
                  << " user token" << (config.num_tokens == 1 ? "" : "s") << ")\n";
    const auto on_step = [&](const TrainStepStats& s) {
        print_step(s);
        if (budget_seconds > 0 && s.step < s.total_steps &&
            seconds_since(sitting_start) + s.step_seconds > budget_seconds) {
            budget_reached = true;
            stop.request_stop();
        }
    };
    const auto result = trainer.train(job, on_step);
    if (result.outcome == Outcome::Cancelled) {
        const bool by_budget = budget_reached && !interrupt.token().stop_requested();
        print_stopped_run(by_budget ? "time budget reached" : "stopped", result.steps_done, config.steps,
                          result.last_checkpoint);
        return by_budget ? kExitBudgetReached : 130;
    }
    std::cout << result.adapter.string() << "\n";
    std::cerr << "done in " << clock_text(result.seconds) << "\n";
    return 0;
}

} // namespace

int run_adapter_training_command(const std::vector<std::string>& args, const AdapterTrainingCommand& command)
{
    std::vector<OptionSpec> specs = command.leading_specs;
    for (auto& s : adapter_training_option_specs())
        specs.push_back(std::move(s));
    specs.push_back({"resume", false, false, "continue the run in --out from its newest checkpoint"});
    specs.push_back({"help", false, false, "show this help"});
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text(command.name, command.synopsis, specs) << command.help_text
                  << "Ctrl-C stops within one step and writes a checkpoint; --resume continues it.\n";
        return 0;
    }
    const fs::path out = cl.require("out");
    const bool resume = cl.has("resume");
    auto config = starting_train_config(out, resume, command.fresh);
    if (cl.has("model"))
        config.model = cl.get("model");
    if (cl.has("data"))
        config.data_dir = command.data_folder ? command.data_folder(cl.get("data")) : cl.get("data");
    apply_adapter_training_options(cl, config);
    return run_adapter_training(cl, config, out, resume, cl.get_double("minutes", 0) * 60.0);
}

} // namespace psa::app
