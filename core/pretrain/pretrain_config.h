// SPDX-License-Identifier: GPL-3.0-or-later
// The settings of one demo-model pretraining stage (the VAE, or the text encoder + UNet). Torch-free:
// the CLI fills it in; checkpoints store it as JSON so that a resumed stage is the same run.
#pragma once
#include <cstdint>
#include <string>

namespace psa {

/// The trained stages in recipe order: the VAE, the text encoder + UNet on its latents, then
/// (optional) the VAE decoder alone on the same frozen encoder (pretrain/decoder_stage.cpp).
enum class PretrainStage { Vae, Unet, Decoder };
/// "vae" / "unet" / "decoder": the run sub-folder and the "stage" field of train_log.jsonl.
const char* pretrain_stage_name(PretrainStage stage);

/// One table of settings for every stage; each stage reads the fields that concern it. The
/// defaults are the demo recipe (docs/demo-model.md); vae_defaults()/unet_defaults()/
/// decoder_defaults() set the per-stage values.
struct PretrainConfig {
    // ---- schedule ----
    int steps = 1000;             ///< optimizer steps of this stage
    int batch = 16;               ///< images per step
    double lr = 2e-4;             ///< AdamW peak learning rate
    int warmup_steps = 100;       ///< linear warm-up, then constant
    /// From this step on the learning rate falls along a half cosine to 0 at `steps`; < 0: no decay.
    /// It only shapes the steps still to come, so a resumed stage may add or move it.
    int lr_decay_from = -1;
    double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
    double weight_decay = 1e-2;
    double max_grad_norm = 1.0;   ///< <= 0: no clipping
    std::uint64_t seed = 0;

    // ---- VAE (the decoder stage reads the L1, MSE and edge weights too) ----
    double kl_weight = 1e-5;      ///< times the mean KL per latent element (the L1 is per pixel)
    double edge_weight = 0.1;     ///< L1 of the images' finite differences (keeps motif edges sharp)
    double mse_weight = 1.0;      ///< added to the L1 term

    // ---- text encoder + UNet ----
    double caption_dropout = 0.1; ///< probability of the empty caption (classifier-free guidance)
    double ema_decay = 0.0;       ///< 0: no EMA; else the exported UNet is the EMA of its weights
    bool sample_posterior = true; ///< latents are posterior samples (false: the posterior mean)
    /// Loss weight of the latent cells (decoder stage: pixels) inside the images' focus_boxes,
    /// against 1 for the rest (pretrain/focus_weights.h); 1: the plain loss. It only shapes the steps still to come, so a
    /// resumed stage may change it (fine-tuning a plainly trained UNet toward its objects).
    double focus_weight = 1.0;
    /// An exported model (diffusers folder) whose text encoder and UNet weights start the stage
    /// instead of random ones: a warm restart, e.g. from a model trained in an earlier sitting on
    /// another machine, of which only the fp16 export came back. Its tokenizer and its UNet and
    /// text-encoder configs must equal the run's. "" = random initial weights.
    std::string init_from;

    // ---- output ----
    int checkpoint_every = 200;   ///< 0: only at the end, on a stop and when the time budget ends
    int keep_checkpoints = 2;     ///< newest checkpoints kept (>= 1)

    static PretrainConfig vae_defaults();
    static PretrainConfig unet_defaults();
    static PretrainConfig decoder_defaults();
    static PretrainConfig defaults(PretrainStage stage);

    /// Throws InvalidRequest naming the field when a value is out of range.
    void validate() const;
    std::string to_json() const;
    /// Unknown keys are ignored, missing ones keep their defaults. ConfigError names `source_name`.
    static PretrainConfig from_json(const std::string& text, const std::string& source_name);
};

/// Linear warm-up over warmup_steps ((step + 1) / warmup, as training/train_config.h), then lr,
/// then from lr_decay_from (when set) a half cosine down to 0 at `steps`.
double pretrain_learning_rate(const PretrainConfig& config, int step);

} // namespace psa
