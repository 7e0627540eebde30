// SPDX-License-Identifier: GPL-3.0-or-later
// Private to core/training: the trainer's state, shared by trainer.cpp (the loop) and
// checkpoint.cpp (saving and resuming it).
#pragma once
#include "adapter/safety_adapter.h"
#include "training/checkpoint_folder.h"
#include "training/dpo_loss.h"
#include "training/preference_dataset.h"
#include "training/trainer.h"
#include "training/weight_ema.h"

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace psa {

/// One micro-batch of B pairs, rows ordered [chosen 0..B-1; rejected 0..B-1] (dpo_loss layout).
struct DpoMicroBatch {
    at::Tensor latents;    // [2B, C, h, w] float32, scaled by the VAE's scaling_factor
    at::Tensor agreement;  // [B, 1, h, w] where the pair's images agree (anchor term), or undefined
    at::Tensor anchor_whole_rows; // [B] float 0/1: pairs the anchor holds over the whole image, or undefined
    at::Tensor counterpart_rows; // [B] float 0/1: pairs the counterpart term covers, or undefined (all)
    at::Tensor routing_token;    // [B] int64: the token of each pair's category (routing term), or undefined
    at::Tensor noise;      // [2B, C, h, w], one sample per pair, repeated for both halves
    at::Tensor timesteps;  // [2B] int64, one per pair, repeated
    at::Tensor text;       // [2B, 77, D] float32
    at::Tensor user_embeds; // [B, user_dim] float32
    at::Tensor null_user;  // [B] bool: the pair uses the null user (user-condition dropout)
};

struct DpoTrainer::Impl {
    std::shared_ptr<ModelComponents> model;
    TrainConfig config;
    std::filesystem::path run_dir;
    std::unique_ptr<PreferenceDataset> data;

    SafetyAdapter adapter{nullptr};
    std::vector<std::pair<std::string, at::Tensor>> trainable; // the adapter's named parameters
    std::unique_ptr<torch::optim::AdamW> optimizer;
    WeightEma ema;                // the adapter's averaged weights (config.ema_decay > 0), else empty

    // ---- randomness: everything a resumed run must continue exactly ----
    at::Generator generator;      // CPU: posterior samples, diffusion noise, timesteps
    std::mt19937 rng;             // data order, flips, caption and user dropout
    std::vector<int64_t> order;   // the current epoch's pair order
    size_t order_pos = 0;

    int step = 0;
    int last_checkpoint_step = -1;
    bool resumed = false;
    double loss_scale = 1.0;      // fp16 autocast only (dynamic loss scaling)
    int loss_scale_good_steps = 0;

    // ---- compute ----
    c10::Device device{c10::kCPU};
    bool autocast = false;
    c10::ScalarType autocast_dtype = c10::ScalarType::Float;
    int resolution = 0;
    at::Tensor alphas_cumprod;    // float32 CPU [num_train_timesteps]
    at::Tensor user_table;        // [users, user_dim] float32 on device
    std::map<std::string, int64_t> user_row;
    std::map<std::string, at::Tensor> text_cache;                           // caption -> [1, 77, D]
    std::map<std::string, std::pair<at::Tensor, at::Tensor>> latent_cache; // path|flip -> mean, std

    std::function<void(const std::filesystem::path&)> checkpoint_hook;
    double last_step_seconds = 0;

    // trainer.cpp
    at::Tensor text_embedding(const std::string& caption);
    std::pair<at::Tensor, at::Tensor> posterior(const std::filesystem::path& image, bool flip);
    int64_t next_pair_index();
    double uniform01();
    DpoMicroBatch make_micro_batch(const std::vector<int64_t>& pairs, const std::vector<bool>& flips,
                                   const std::vector<bool>& drop_caption, const std::vector<bool>& drop_user,
                                   at::Generator& gen);
    DpoLossTerms forward_loss(const DpoMicroBatch& mb);
    void write_samples(JobControl& job);
    void append_log(const TrainStepStats& s);

    // checkpoint.cpp
    std::filesystem::path save_checkpoint(); // IoError on a file-system failure
    std::filesystem::path write_checkpoint();
    bool resume();
    void truncate_log(int last_step);
};

/// Switches CUDA autocast on for a scope (no-op when `enabled` is false), restoring the previous
/// state after; LibTorch 1.13 and 2.x spell the calls differently.
class AutocastScope {
public:
    AutocastScope(bool enabled, c10::ScalarType dtype);
    ~AutocastScope();
    AutocastScope(const AutocastScope&) = delete;
    AutocastScope& operator=(const AutocastScope&) = delete;

private:
    bool enabled_ = false, previous_ = false;
    c10::ScalarType previous_dtype_ = c10::ScalarType::Half;
};

} // namespace psa
