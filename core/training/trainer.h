// SPDX-License-Identifier: GPL-3.0-or-later
// The personalized Diffusion-DPO trainer (PSA.md "Training"; torch-free facade, pimpl). Only the
// safety adapter trains; the reference prediction is the same UNet with the adapter hook off.
#pragma once
#include "common/progress.h"
#include "training/train_config.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace psa {

struct ModelComponents;   // pipeline/components.h
class PreferenceDataset;  // training/preference_dataset.h

/// One optimizer step as the callback sees it; terms are means over the step's micro-batches.
struct TrainStepStats {
    int step = 0;          ///< optimizer steps done, counting those before a resume
    int total_steps = 0;
    double loss = 0;
    double accuracy = 0;   ///< implicit preference accuracy: fraction of inside_term > 0
    double model_mse = 0;
    double ref_mse = 0;
    double dpo_preference = 0;
    double routing = 0;    ///< the routing term's cross-entropy (0 when off; ln T is an even spread)
    double lr = 0;
    double grad_norm = 0;  ///< before clipping
    double step_seconds = 0; ///< wall time of this step (forward, backward, update)
    double steps_per_second = 0;
    double eta_seconds = -1;
};
using TrainStepFn = std::function<void(const TrainStepStats&)>;

struct TrainResult {
    Outcome outcome = Outcome::Completed;
    int first_step = 0;    ///< the step this call started from (> 0 after a resume)
    int steps_done = 0;    ///< optimizer steps done in total
    std::filesystem::path adapter;          ///< <run>/adapter.safetensors (completed runs)
    std::filesystem::path last_checkpoint;  ///< the newest complete checkpoint, if any
    double seconds = 0;
};

/// Loss and implicit accuracy over the pairs without dropout or flips, with noise and timesteps
/// from a fixed seed (so two calls are comparable).
struct DpoEvalStats {
    int samples = 0;
    double loss = 0, accuracy = 0, model_mse = 0, ref_mse = 0;
};

/// Run folder layout:
///   config.json                the run's TrainConfig
///   checkpoints/step-NNNNNNNN/ adapter.safetensors, optimizer.safetensors (AdamW moments and
///                              step per parameter, RNG state, data order), state.json
///   samples/step-NNNNNNNN/     PNGs at fixed seeds          adapter.safetensors  final adapter
///   train_log.jsonl            one line of TrainStepStats per step
/// A checkpoint is written into a hidden temporary folder and renamed into place, so a process
/// killed while writing leaves the previous checkpoints intact. Not thread-safe: one worker.
class DpoTrainer {
public:
    /// Validates the config (InvalidRequest), loads the preference data (see
    /// PreferenceDataset::load), freezes the model's own parameters and builds a fresh adapter
    /// (seeded by config.seed) and its AdamW optimizer. With config.init_adapter, and a run folder
    /// without checkpoints, the adapter starts at that file's weights instead (ConfigError naming
    /// the file and each mismatch when its tokens or profile encoder differ from the run's); the
    /// reference stays the model without adapter. On the CPU the model must be fp32; on CUDA it
    /// may be fp16/bf16 and runs under autocast (config.mixed_precision), the adapter in fp32.
    DpoTrainer(std::shared_ptr<ModelComponents> model, TrainConfig config, std::filesystem::path run_dir);
    ~DpoTrainer();
    DpoTrainer(const DpoTrainer&) = delete;
    DpoTrainer& operator=(const DpoTrainer&) = delete;

    /// Loads the newest complete checkpoint of the run folder: adapter, optimizer, step, RNG and
    /// data order. Returns false when there is none. Throws InvalidRequest when the checkpoint's
    /// config differs from this one in a setting that shapes the trajectory (steps, checkpoint
    /// and sample settings may differ), ModelLoadError/IoError for an unreadable checkpoint.
    bool resume();

    /// Trains from the current step to config.steps, checking the stop token between micro-
    /// batches. On a stop it writes a checkpoint of the last completed step and returns
    /// Cancelled. A fresh run refuses a run folder that already holds checkpoints (resume()
    /// first). Throws psa::Error when the loss or gradient turns NaN/infinite (the newest
    /// checkpoint stays the last good one) and IoError for unreadable images.
    TrainResult train(JobControl& job, const TrainStepFn& on_step = {});

    /// Writes a checkpoint of the current step (no-op when that step is already saved); returns
    /// its folder.
    std::filesystem::path save_checkpoint();
    /// Writes the adapter's current weights (reference layout, with metadata) to `path`; with
    /// ema_decay the run's own adapter.safetensors is their average instead.
    void save_adapter(const std::filesystem::path& path);

    /// Loss and accuracy over up to max_pairs pairs (0 = all), each seen `repeats` times.
    DpoEvalStats evaluate(int max_pairs = 0, int repeats = 1, std::uint64_t seed = 1234);

    int step() const;
    const TrainConfig& config() const;
    const PreferenceDataset& dataset() const;
    const std::filesystem::path& run_dir() const;
    /// Seconds of the last optimizer step (forward, backward, update).
    double last_step_seconds() const;

    /// Newest complete checkpoint folder of a run folder, if any.
    static std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& run_dir);
    /// The config stored in a checkpoint folder (state.json) or run folder (config.json).
    static TrainConfig stored_config(const std::filesystem::path& folder);

    /// Test hook: called after each file of a checkpoint is written into the temporary folder.
    void set_checkpoint_hook(std::function<void(const std::filesystem::path& written)> hook);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace psa
