// SPDX-License-Identifier: GPL-3.0-or-later
#include "pretrain/pretrain_config.h"

#include "common/error.h"
#include "common/json_fields.h"
#include "training/train_config.h"

#include <nlohmann/json.hpp>

namespace psa {

namespace {

using json = nlohmann::json;

// One table drives both directions (common/json_fields.h) so that a new field cannot be saved
// but not loaded.
const auto visit_fields = [](PretrainConfig& c, auto&& v) {
    v("steps", c.steps);
    v("batch", c.batch);
    v("lr", c.lr);
    v("warmup_steps", c.warmup_steps);
    v("lr_decay_from", c.lr_decay_from);
    v("adam_beta1", c.adam_beta1);
    v("adam_beta2", c.adam_beta2);
    v("adam_eps", c.adam_eps);
    v("weight_decay", c.weight_decay);
    v("max_grad_norm", c.max_grad_norm);
    v("seed", c.seed);
    v("kl_weight", c.kl_weight);
    v("edge_weight", c.edge_weight);
    v("mse_weight", c.mse_weight);
    v("caption_dropout", c.caption_dropout);
    v("ema_decay", c.ema_decay);
    v("sample_posterior", c.sample_posterior);
    v("focus_weight", c.focus_weight);
    v("init_from", c.init_from);
    v("checkpoint_every", c.checkpoint_every);
    v("keep_checkpoints", c.keep_checkpoints);
};

} // namespace

const char* pretrain_stage_name(PretrainStage stage)
{
    switch (stage) {
    case PretrainStage::Vae: return "vae";
    case PretrainStage::Unet: return "unet";
    case PretrainStage::Decoder: return "decoder";
    }
    return "?";
}

PretrainConfig PretrainConfig::vae_defaults()
{
    PretrainConfig c;
    c.steps = 3000;
    c.batch = 16;
    c.lr = 2e-4;
    c.warmup_steps = 100;
    c.weight_decay = 0.0;
    return c;
}

PretrainConfig PretrainConfig::unet_defaults()
{
    PretrainConfig c;
    c.steps = 20000;
    c.batch = 32;
    c.lr = 3e-4;
    c.warmup_steps = 500;
    c.weight_decay = 1e-2;
    c.ema_decay = 0.999;
    return c;
}

PretrainConfig PretrainConfig::decoder_defaults()
{
    // A fine-tune of a trained decoder: a lower peak than the VAE's, and a half cosine to 0 over
    // all its steps (from step 0, so that any step count is valid).
    PretrainConfig c = vae_defaults();
    c.steps = 2000;
    c.lr = 1e-4;
    c.warmup_steps = 50;
    c.lr_decay_from = 0;
    return c;
}

PretrainConfig PretrainConfig::defaults(PretrainStage stage)
{
    switch (stage) {
    case PretrainStage::Vae: return vae_defaults();
    case PretrainStage::Unet: return unet_defaults();
    case PretrainStage::Decoder: return decoder_defaults();
    }
    return {};
}

void PretrainConfig::validate() const
{
    const auto need = [](bool ok, const std::string& field, const std::string& msg) {
        if (!ok)
            throw InvalidRequest("pretraining option " + field + ": " + msg);
    };
    need(steps >= 1, "steps", std::to_string(steps) + " is not a positive number of steps");
    need(batch >= 1 && batch <= 4096, "batch", std::to_string(batch) + " is outside 1-4096 images");
    need(lr > 0 && lr < 1, "lr", std::to_string(lr) + " is outside (0, 1)");
    need(warmup_steps >= 0, "warmup_steps", "must not be negative");
    need(lr_decay_from < steps, "lr_decay_from",
         std::to_string(lr_decay_from) + " is not before the last step (" + std::to_string(steps) + ")");
    need(adam_beta1 >= 0 && adam_beta1 < 1 && adam_beta2 >= 0 && adam_beta2 < 1, "adam_beta1/2",
         "must lie in [0, 1)");
    need(adam_eps > 0, "adam_eps", "must be positive");
    need(weight_decay >= 0, "weight_decay", "must not be negative");
    need(kl_weight >= 0 && edge_weight >= 0 && mse_weight >= 0, "kl_weight/edge_weight/mse_weight",
         "loss weights must not be negative");
    need(caption_dropout >= 0 && caption_dropout <= 1, "caption_dropout", "is a probability in [0, 1]");
    need(ema_decay >= 0 && ema_decay < 1, "ema_decay", std::to_string(ema_decay) + " is outside [0, 1)");
    need(focus_weight > 0 && focus_weight <= 100, "focus_weight",
         std::to_string(focus_weight) + " is outside (0, 100] (1 = no weighting)");
    need(checkpoint_every >= 0, "checkpoint_every", "must not be negative (0 = only at the end)");
    need(keep_checkpoints >= 1, "keep_checkpoints", "must be at least 1");
}

std::string PretrainConfig::to_json() const
{
    return fields_to_json_text(*this, visit_fields, "psa-pretrain-config/1");
}

PretrainConfig PretrainConfig::from_json(const std::string& text, const std::string& source_name)
{
    return fields_from_json_text<PretrainConfig>(text, source_name, "a pretraining configuration", visit_fields);
}

double pretrain_learning_rate(const PretrainConfig& c, int step)
{
    return warmup_cosine_lr(c.lr, c.warmup_steps, c.lr_decay_from, c.steps, step);
}

} // namespace psa
