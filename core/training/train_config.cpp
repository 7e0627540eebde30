// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/train_config.h"

#include "adapter/token_layout.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_fields.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace psa {

namespace {

using json = nlohmann::json;

// One table drives both directions (common/json_fields.h) so that a new field cannot be saved
// but not loaded.
const auto visit_fields = [](TrainConfig& c, auto&& v) {
    v("model", c.model);
    v("data_dir", c.data_dir);
    v("embeds_dir", c.embeds_dir);
    v("strict", c.strict);
    v("steps", c.steps);
    v("batch", c.batch);
    v("grad_accum", c.grad_accum);
    v("lr", c.lr);
    v("warmup_steps", c.warmup_steps);
    v("lr_decay_from", c.lr_decay_from);
    v("adam_beta1", c.adam_beta1);
    v("adam_beta2", c.adam_beta2);
    v("adam_eps", c.adam_eps);
    v("ema_decay", c.ema_decay);
    v("weight_decay", c.weight_decay);
    v("max_grad_norm", c.max_grad_norm);
    v("beta_dpo", c.beta_dpo);
    v("sft_weight", c.sft_weight);
    v("anchor_weight", c.anchor_weight);
    v("anchor_scope", c.anchor_scope);
    v("counterpart_weight", c.counterpart_weight);
    v("counterpart_pairs", c.counterpart_pairs);
    v("ban_mixing", c.ban_mixing);
    v("routing_weight", c.routing_weight);
    v("routing_steps", c.routing_steps);
    v("resolution", c.resolution);
    v("random_flip", c.random_flip);
    v("caption_dropout", c.caption_dropout);
    v("user_dropout", c.user_dropout);
    v("cache_latents", c.cache_latents);
    v("num_tokens", c.num_tokens);
    v("token_layout", c.token_layout);
    v("token_start", c.token_start);
    v("sink_token", c.sink_token);
    v("ban_gated_tokens", c.ban_gated_tokens);
    v("freeze_user_keys", c.freeze_user_keys);
    v("own_user_query", c.own_user_query);
    v("learned_null_user", c.learned_null_user);
    v("profile_encoder", c.profile_encoder);
    v("init_adapter", c.init_adapter);
    v("device", c.device);
    v("mixed_precision", c.mixed_precision);
    v("seed", c.seed);
    v("checkpoint_every", c.checkpoint_every);
    v("keep_checkpoints", c.keep_checkpoints);
    v("sample_every", c.sample_every);
    v("sample_prompts", c.sample_prompts);
    v("sample_seeds", c.sample_seeds);
    v("sample_steps", c.sample_steps);
    v("sample_users", c.sample_users);
};

} // namespace

void TrainConfig::validate() const
{
    const auto need = [](bool ok, const std::string& field, const std::string& msg) {
        if (!ok)
            throw InvalidRequest("training option " + field + ": " + msg);
    };
    need(steps >= 1, "steps", std::to_string(steps) + " is not a positive number of steps");
    need(batch >= 1 && batch <= 4096, "batch", std::to_string(batch) + " is outside 1-4096 pairs");
    need(grad_accum >= 1, "grad_accum", std::to_string(grad_accum) + " must be at least 1");
    need(lr > 0 && lr < 1, "lr", std::to_string(lr) + " is outside (0, 1)");
    need(warmup_steps >= 0, "warmup_steps", "must not be negative");
    need(lr_decay_from >= -1 && lr_decay_from < steps, "lr_decay_from",
         std::to_string(lr_decay_from) + " is not a step before the last (" + std::to_string(steps) +
             "), nor -1 (no decay)");
    need(adam_beta1 >= 0 && adam_beta1 < 1 && adam_beta2 >= 0 && adam_beta2 < 1, "adam_beta1/2",
         "must lie in [0, 1)");
    need(adam_eps > 0, "adam_eps", "must be positive");
    need(ema_decay >= 0 && ema_decay < 1, "ema_decay", std::to_string(ema_decay) + " is outside [0, 1) (0 = off)");
    need(weight_decay >= 0, "weight_decay", "must not be negative");
    need(beta_dpo > 0, "beta", std::to_string(beta_dpo) + " must be positive (the reference uses 5000)");
    need(sft_weight >= 0, "sft_weight", std::to_string(sft_weight) + " must not be negative (0 = pure DPO)");
    need(anchor_weight >= 0, "anchor_weight", std::to_string(anchor_weight) + " must not be negative (0 = off)");
    need(anchor_scope == kAnchorAgreement || anchor_scope == kAnchorAllowedWhole, "anchor_scope",
         "\"" + anchor_scope + "\" is neither " + kAnchorAgreement + " nor " + kAnchorAllowedWhole);
    need(counterpart_weight >= 0, "counterpart_weight",
         std::to_string(counterpart_weight) + " must not be negative (0 = off)");
    need(counterpart_pairs == kCounterpartAllPairs || counterpart_pairs == kCounterpartBannedPairs,
         "counterpart_pairs",
         "\"" + counterpart_pairs + "\" is neither " + kCounterpartAllPairs + " nor " + kCounterpartBannedPairs);
    need(ban_mixing >= 0 && ban_mixing <= 1, "ban_mixing",
         std::to_string(ban_mixing) + " is not a probability in [0, 1] (0 = off)");
    need(ban_mixing == 0 || token_layout == kPerCategoryTokens, "ban_mixing",
         "needs per-category user tokens: a dense token reads the whole profile, whose attributes "
         "would then disagree with the mixed bans");
    need(routing_weight >= 0, "routing_weight", std::to_string(routing_weight) + " must not be negative (0 = off)");
    need(routing_weight == 0 || token_layout == kPerCategoryTokens, "routing_weight",
         "needs per-category user tokens: the term sends each concept's place to its category's token");
    need(routing_steps >= 0 && routing_steps < steps, "routing_steps",
         std::to_string(routing_steps) + " must lie in [0, steps) (0 = no routing stage)");
    need(routing_steps == 0 || routing_weight > 0, "routing_steps",
         "a routing stage trains the routing term alone; set routing_weight");
    need(resolution >= 0, "resolution", "must not be negative (0 = the model's size)");
    need(caption_dropout >= 0 && caption_dropout <= 1, "caption_dropout", "is a probability in [0, 1]");
    need(user_dropout >= 0 && user_dropout <= 1, "user_dropout", "is a probability in [0, 1]");
    need(num_tokens >= 1 && num_tokens <= 77, "num_tokens", std::to_string(num_tokens) + " is outside 1-77");
    need(is_token_layout(token_layout), "token_layout",
         "\"" + token_layout + "\" is neither " + kDenseTokens + " nor " + kPerCategoryTokens);
    need(token_layout != kPerCategoryTokens || profile_encoder == "structured", "token_layout",
         "per-category tokens read the ban strengths of the structured profile encoder; precomputed "
         "embeddings have none");
    need(!sink_token || token_layout == kPerCategoryTokens, "sink_token",
         "needs per-category user tokens: a dense token reads the whole profile, so no token of it stays "
         "the same for every user");
    need(!ban_gated_tokens || token_layout == kPerCategoryTokens, "ban_gated_tokens",
         "needs per-category user tokens: a dense token reads the whole profile, so it "
         "has no one ban to be gated by");
    need(token_start == kTokensStartRandom || token_start == kTokensStartAtCaptions, "token_start",
         "\"" + token_start + "\" is neither " + kTokensStartRandom + " nor " + kTokensStartAtCaptions);
    need(!tokens_start_at_captions() || token_layout == kPerCategoryTokens, "token_start",
         "captions needs per-category user tokens: it starts each category's token at that category's captions");
    need(!tokens_start_at_captions() || init_adapter.empty(), "token_start",
         "captions starts a new adapter; a run from init_adapter takes that file's tokens");
    need(!freeze_user_keys || tokens_start_at_captions() || !init_adapter.empty(), "freeze_user_keys",
         "the random start's user key maps are zero and would stay so (every place attending to every token "
         "alike); freeze them with token_start captions or an init_adapter");
    need(profile_encoder == "structured" || profile_encoder == "precomputed", "profile_encoder",
         "\"" + profile_encoder + "\" is neither structured nor precomputed");
    need(profile_encoder != "precomputed" || !embeds_dir.empty(), "embeds",
         "the precomputed profile encoder needs an embeddings folder of {User_ID}.npy files");
    need(mixed_precision == "auto" || mixed_precision == "no" || mixed_precision == "bf16" ||
             mixed_precision == "fp16",
         "mixed_precision", "\"" + mixed_precision + "\" is not one of auto, no, bf16, fp16");
    need(checkpoint_every >= 0, "checkpoint_every", "must not be negative (0 = only at the end)");
    need(keep_checkpoints >= 1, "keep_checkpoints", "must be at least 1");
    need(sample_every >= 0, "sample_every", "must not be negative (0 = no samples)");
    need(sample_steps >= 1 && sample_steps <= 1000, "sample_steps", "is outside 1-1000");
    need(sample_users >= 0, "sample_users", "must not be negative");
}

std::string TrainConfig::to_json() const
{
    return fields_to_json_text(*this, visit_fields, "psa-train-config/1");
}

TrainConfig TrainConfig::from_json(const std::string& text, const std::string& source_name)
{
    return fields_from_json_text<TrainConfig>(text, source_name, "a training configuration", visit_fields);
}

void TrainConfig::save(const std::filesystem::path& path) const { write_file_atomic(path, to_json()); }

TrainConfig TrainConfig::load(const std::filesystem::path& path)
{
    return from_json(read_file_text(path), path.string());
}

double linear_warmup_lr(double peak_lr, int warmup_steps, int step)
{
    // diffusers' constant_with_warmup uses step / warmup, which spends the first step at lr 0;
    // (step + 1) / warmup reaches the same plateau one step earlier and never wastes a step.
    if (warmup_steps <= 0)
        return peak_lr;
    return peak_lr * std::min(1.0, static_cast<double>(step + 1) / warmup_steps);
}

double warmup_cosine_lr(double peak_lr, int warmup_steps, int decay_from, int steps, int step)
{
    const double lr = linear_warmup_lr(peak_lr, warmup_steps, step);
    if (decay_from < 0 || step < decay_from)
        return lr;
    // A late anneal lets AdamW settle out of a constant rate's noise (the demo UNet's eps-MSE fell
    // from 0.062 to 0.053 over its decay; docs/demo-model.md, "Third round").
    const double t = std::min(1.0, static_cast<double>(step - decay_from) / (steps - decay_from));
    return lr * 0.5 * (1.0 + std::cos(M_PI * t));
}

double learning_rate_at(const TrainConfig& c, int step)
{
    return warmup_cosine_lr(c.lr, c.warmup_steps, c.lr_decay_from, c.steps, step);
}

} // namespace psa
