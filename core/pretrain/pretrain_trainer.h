// SPDX-License-Identifier: GPL-3.0-or-later
// Training the demo model's networks from scratch (torch-free facade, pimpl): the VAE on the
// images, then the CLIP text encoder and the UNet jointly on cached VAE latents. Checkpoints are
// atomic and a resumed stage continues bit for bit (CPU); a time budget ends a sitting cleanly.
#pragma once
#include "common/progress.h"
#include "pretrain/pretrain_config.h"

#include <c10/core/Device.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace psa {

class CaptionImageSet; // pretrain/caption_image_set.h

/// One optimizer step as the callback sees it.
struct PretrainStepStats {
    PretrainStage stage = PretrainStage::Vae;
    int step = 0;            ///< steps done, counting those before a resume
    int total_steps = 0;
    double loss = 0;
    std::string terms;       ///< the loss's parts, e.g. "l1 0.041 mse 0.004 kl 12.3 edge 0.05"
    double lr = 0;
    double grad_norm = 0;    ///< before clipping
    double step_seconds = 0;
    double steps_per_second = 0;
    double eta_seconds = -1;
};
using PretrainStepFn = std::function<void(const PretrainStepStats&)>;

struct PretrainResult {
    Outcome outcome = Outcome::Completed;
    bool budget_reached = false;  ///< stopped (Cancelled) because the time budget ran out
    int first_step = 0;
    int steps_done = 0;
    double seconds = 0;
    std::filesystem::path last_checkpoint;
};

/// A stage's folder is RUN/vae or RUN/unet (see pretrain_run.h):
///   checkpoints/step-NNNNNNNN/ weights.safetensors (every module's parameters and buffers as
///                              "<module>.<key>", fp32; "ema.unet.<key>" with EMA), optimizer.safetensors
///                              (AdamW moments and steps, torch CPU generator, data order), state.json
/// The VAE stage, once complete, also writes RUN/vae/final/ and sets scaling_factor (1 / the std
/// of posterior samples over the data) in RUN/arch/vae/config.json. Not thread-safe: one worker.
class PretrainTrainer {
public:
    /// Builds the stage's networks from RUN/arch (random weights seeded by config.seed) and loads
    /// the data: the VAE stage decodes the images at the VAE's sample_size; the UNet stage reads
    /// RUN/tokenizer and RUN/vae/final (ConfigError naming what is missing and which stage makes
    /// it) and caches every image's posterior (Stage::Encode progress). Throws InvalidRequest for
    /// a bad config, ConfigError for architecture configs that do not fit together.
    /// `device` holds the networks, the optimizer and the cached data; every random draw still
    /// comes from the CPU generator, so a CPU run is unchanged and a resume continues the same
    /// draws on any device (bit for bit only on the CPU: CUDA kernels are not deterministic).
    PretrainTrainer(PretrainStage stage, std::filesystem::path run_dir, const CaptionImageSet& data,
                    PretrainConfig config, JobControl& job, c10::Device device = c10::Device(c10::kCPU));
    ~PretrainTrainer();
    PretrainTrainer(const PretrainTrainer&) = delete;
    PretrainTrainer& operator=(const PretrainTrainer&) = delete;

    /// Loads the newest complete checkpoint: weights, optimizer, EMA, step, RNG, data order.
    /// Returns false when there is none. InvalidRequest when its settings differ from this
    /// config's in anything but steps and checkpoint settings, or the data size changed.
    bool resume();

    /// Trains to config.steps, checking the stop token before each step. On a stop, or when
    /// `budget_seconds` (> 0) would be exceeded by the next step, writes a checkpoint of the last
    /// completed step and returns Cancelled. A fresh stage refuses a folder that already holds
    /// checkpoints (resume() first). Throws psa::Error when the loss turns NaN/infinite.
    PretrainResult train(JobControl& job, const PretrainStepFn& on_step = {}, double budget_seconds = 0);

    /// Mean loss over the first `images` images (0 = all) with noise, timesteps and latent
    /// samples from `seed`, no dropout and no update: comparable between calls.
    double evaluate(int images, std::uint64_t seed);

    std::filesystem::path save_checkpoint();
    int step() const;
    const PretrainConfig& config() const;
    /// Trainable parameters (all networks of the stage).
    std::int64_t parameter_count() const;

    /// RUN/<stage> for a run folder.
    static std::filesystem::path stage_dir(const std::filesystem::path& run_dir, PretrainStage stage);
    static std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& run_dir,
                                                                  PretrainStage stage);
    /// The config stored in a checkpoint folder's state.json.
    static PretrainConfig stored_config(const std::filesystem::path& checkpoint);
    /// The step a checkpoint folder was written at (its state.json).
    static int stored_step(const std::filesystem::path& checkpoint);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace psa
