// SPDX-License-Identifier: GPL-3.0-or-later
// The loop shared by both pretraining stages: AdamW with linear warm-up, gradient clipping,
// optional EMA of the UNet (training/weight_ema.h), epoch-wise
// shuffled rows, a stop or time budget honoured between steps, atomic checkpoints.
#include "pretrain/pretrain_trainer.h"

#include "common/error.h"
#include "pretrain/caption_image_set.h"
#include "pretrain/trainer_state.h"
#include "tensor_io/layers.h"
#include "training/checkpoint_folder.h"
#include "training/shuffled_order.h"
#include "training/step_pace.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace psa {

namespace fs = std::filesystem;

PretrainTrainer::PretrainTrainer(PretrainStage stage, fs::path run_dir, const CaptionImageSet& data,
                                 PretrainConfig config, JobControl& job, c10::Device device)
    : impl_(std::make_unique<Impl>())
{
    config.validate();
    auto& m = *impl_;
    m.stage = stage;
    m.run_dir = std::move(run_dir);
    m.stage_dir = stage_dir(m.run_dir, stage);
    m.config = std::move(config);
    const auto& c = m.config;
    switch (stage) {
    case PretrainStage::Vae: m.model = make_vae_stage(m.run_dir, data, c, job, device); break;
    case PretrainStage::Unet: m.model = make_unet_stage(m.run_dir, data, c, job, device); break;
    case PretrainStage::Decoder: m.model = make_decoder_stage(m.run_dir, data, c, job, device); break;
    }

    std::vector<at::Tensor> params;
    for (const auto& [name, module] : m.model->modules())
        for (const auto& p : module->named_parameters(true)) {
            p.value().requires_grad_(true);
            m.trainable.emplace_back(name + "." + p.key(), p.value());
            params.push_back(p.value());
        }
    torch::optim::AdamWOptions opt(c.lr);
    opt.betas(std::make_tuple(c.adam_beta1, c.adam_beta2)).eps(c.adam_eps).weight_decay(c.weight_decay);
    m.optimizer = std::make_unique<torch::optim::AdamW>(params, opt);

    if (c.ema_decay > 0 && !m.model->ema_module().empty()) {
        std::vector<std::pair<std::string, at::Tensor>> followed;
        for (const auto& [name, module] : m.model->modules())
            if (name == m.model->ema_module())
                for (const auto& p : module->named_parameters(true))
                    followed.emplace_back("ema." + name + "." + p.key(), p.value());
        m.ema = WeightEma(followed, c.ema_decay);
    }

    m.generator = at::make_generator<at::CPUGeneratorImpl>(c.seed);
    // Two 32-bit words of the 64-bit seed, so that seeds differing only above bit 31 differ.
    std::seed_seq seq{static_cast<uint32_t>(c.seed), static_cast<uint32_t>(c.seed >> 32)};
    m.rng.seed(seq);
}

PretrainTrainer::~PretrainTrainer() = default;

int PretrainTrainer::step() const { return impl_->step; }
const PretrainConfig& PretrainTrainer::config() const { return impl_->config; }
fs::path PretrainTrainer::save_checkpoint() { return impl_->save_checkpoint(); }
bool PretrainTrainer::resume() { return impl_->resume(); }

std::int64_t PretrainTrainer::parameter_count() const
{
    std::int64_t n = 0;
    for (const auto& p : impl_->trainable)
        n += p.second.numel();
    return n;
}

fs::path PretrainTrainer::stage_dir(const fs::path& run_dir, PretrainStage stage)
{
    return run_dir / pretrain_stage_name(stage);
}

// ---- data order and augmentation draws ----

double PretrainTrainer::Impl::uniform01() { return psa::uniform01(rng); }

int64_t PretrainTrainer::Impl::next_row() { return next_shuffled_index(rng, order, order_pos, model->rows()); }

void PretrainTrainer::Impl::append_log(const PretrainStepStats& s)
{
    std::ofstream out(run_dir / "train_log.jsonl", std::ios::app);
    char line[512];
    std::snprintf(line, sizeof line,
                  "{\"stage\": \"%s\", \"step\": %d, \"loss\": %.6g, \"terms\": \"%s\", \"lr\": %.6g, "
                  "\"grad_norm\": %.6g, \"seconds\": %.4g}\n",
                  pretrain_stage_name(stage), s.step, s.loss, s.terms.c_str(), s.lr, s.grad_norm, s.step_seconds);
    out << line;
}

// ---- the loop ----

PretrainResult PretrainTrainer::train(JobControl& job, const PretrainStepFn& on_step, double budget_seconds)
{
    auto& m = *impl_;
    const auto& c = m.config;
    PretrainResult result;
    result.first_step = m.step;
    fs::create_directories(m.stage_dir);
    if (!m.resumed && m.step == 0) {
        if (const auto existing = latest_checkpoint(m.run_dir, m.stage))
            throw InvalidRequest(m.stage_dir.string() + " already holds a training run (" +
                                 existing->filename().string() + "); resume it (--resume) or use another run folder");
        m.truncate_log(-1);
    }
    const auto ckpt_dir = m.stage_dir / "checkpoints";
    remove_unfinished_checkpoint_folders(ckpt_dir);

    const auto start = std::chrono::steady_clock::now();
    std::vector<at::Tensor> params;
    for (const auto& p : m.trainable)
        params.push_back(p.second);
    auto& group = static_cast<torch::optim::AdamWOptions&>(m.optimizer->param_groups().front().options());
    const std::function<double()> draw = [&m] { return m.uniform01(); };

    const auto finish = [&](Outcome outcome) {
        result.outcome = outcome;
        result.steps_done = m.step;
        if (m.step > 0 && m.last_checkpoint_step != m.step)
            m.save_checkpoint();
        if (const auto last = latest_checkpoint(m.run_dir, m.stage))
            result.last_checkpoint = *last;
        if (outcome == Outcome::Completed)
            m.model->complete(job);
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return result;
    };

    while (m.step < c.steps) {
        if (job.stop_requested())
            return finish(Outcome::Cancelled);
        const double elapsed_before = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (budget_seconds > 0 && m.step > result.first_step && elapsed_before + m.last_step_seconds > budget_seconds) {
            result.budget_reached = true;
            return finish(Outcome::Cancelled);
        }
        const auto step_start = std::chrono::steady_clock::now();
        const double lr = pretrain_learning_rate(c, m.step);
        group.lr(lr);
        m.optimizer->zero_grad();
        std::vector<int64_t> rows;
        for (int i = 0; i < c.batch; ++i)
            rows.push_back(m.next_row());
        const auto out = m.model->loss(rows, m.generator, &draw);
        const double loss = out.loss.item<double>();
        if (!std::isfinite(loss)) {
            std::ostringstream msg;
            msg << "pretraining (" << pretrain_stage_name(m.stage) << ") diverged at step " << m.step + 1
                << ": the loss is " << loss << "; no checkpoint was written after it";
            if (const auto last = latest_checkpoint(m.run_dir, m.stage))
                msg << "\n  the last good checkpoint is " << last->string() << " (resume from it with a lower --lr)";
            throw Error(msg.str());
        }
        out.loss.backward();
        const double max_norm = c.max_grad_norm > 0 ? c.max_grad_norm : std::numeric_limits<double>::infinity();
        PretrainStepStats st;
        st.grad_norm = torch::nn::utils::clip_grad_norm_(params, max_norm);
        m.optimizer->step();
        m.step += 1;
        m.ema.update(m.step);

        const auto now = std::chrono::steady_clock::now();
        m.last_step_seconds = std::chrono::duration<double>(now - step_start).count();
        const double elapsed = std::chrono::duration<double>(now - start).count();
        st.stage = m.stage;
        st.step = m.step;
        st.total_steps = c.steps;
        st.loss = loss;
        st.terms = out.terms;
        st.lr = lr;
        st.step_seconds = m.last_step_seconds;
        const auto pace = step_pace(elapsed, m.step - result.first_step, c.steps - m.step);
        st.steps_per_second = pace.steps_per_second;
        st.eta_seconds = pace.eta_seconds;
        m.append_log(st);
        if (on_step)
            on_step(st);
        char detail[96];
        std::snprintf(detail, sizeof detail, "%s loss %.5f", pretrain_stage_name(m.stage), loss);
        job.report(Stage::Train, m.step, c.steps, detail);
        if (c.checkpoint_every > 0 && m.step % c.checkpoint_every == 0 && m.step < c.steps)
            m.save_checkpoint();
    }
    return finish(Outcome::Completed);
}

double PretrainTrainer::evaluate(int images, std::uint64_t seed)
{
    auto& m = *impl_;
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    const int64_t n = images > 0 ? std::min<int64_t>(images, m.model->rows()) : m.model->rows();
    constexpr int64_t kChunk = 32;
    double sum = 0;
    for (int64_t first = 0; first < n; first += kChunk) {
        std::vector<int64_t> rows;
        for (int64_t i = first; i < std::min(n, first + kChunk); ++i)
            rows.push_back(i);
        sum += m.model->loss(rows, gen, nullptr).loss.item<double>() * static_cast<double>(rows.size());
    }
    return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

} // namespace psa
