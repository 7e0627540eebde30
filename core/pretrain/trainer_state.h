// SPDX-License-Identifier: GPL-3.0-or-later
// Private to core/pretrain: a stage's training state, shared by pretrain_trainer.cpp (the loop)
// and pretrain_checkpoint.cpp (saving and resuming it).
#pragma once
#include "pretrain/pretrain_trainer.h"
#include "pretrain/stage_model.h"
#include "training/weight_ema.h"

#include <ATen/core/Generator.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace psa {

struct PretrainTrainer::Impl {
    PretrainStage stage = PretrainStage::Vae;
    std::filesystem::path run_dir, stage_dir;
    PretrainConfig config;
    std::unique_ptr<StageModel> model;

    std::vector<std::pair<std::string, at::Tensor>> trainable; // "<module>.<key>"
    std::unique_ptr<torch::optim::AdamW> optimizer;
    WeightEma ema;                                             // "ema.<module>.<key>" shadows

    // ---- randomness: everything a resumed run must continue exactly ----
    at::Generator generator;    // CPU: posterior samples, diffusion noise, timesteps
    std::mt19937 rng;           // data order, caption dropout
    std::vector<int64_t> order; // the current epoch's row order
    size_t order_pos = 0;

    int step = 0;
    int last_checkpoint_step = -1;
    bool resumed = false;
    double last_step_seconds = 0;

    double uniform01();
    int64_t next_row();
    void append_log(const PretrainStepStats& s);

    // pretrain_checkpoint.cpp
    std::filesystem::path save_checkpoint();
    bool resume();
    void truncate_log(int last_step);
};

} // namespace psa
