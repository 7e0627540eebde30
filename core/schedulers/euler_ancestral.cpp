// SPDX-License-Identifier: GPL-3.0-or-later
// Euler ancestral (k-diffusion's sample_euler_ancestral, eta = 1): an Euler step down to sigma_down
// plus fresh noise of std sigma_up. Ported from diffusers v0.30.3
// scheduling_euler_ancestral_discrete.py; the noise comes from the caller so runs are reproducible.
#include "schedulers/algorithms.h"
#include "schedulers/schedule_math.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace psa::sched {
namespace {

class EulerAncestralScheduler final : public Scheduler {
public:
    explicit EulerAncestralScheduler(const SchedulerConfig& config) : Scheduler(config)
    {
        spacing_ = resolve_spacing(config_, "linspace");
        train_sigmas_ = train_sigmas(alphas_cumprod_);
    }

    std::string name() const override { return "euler-a"; }
    bool needs_noise() const override { return true; }

    void set_timesteps(int n) override
    {
        check_num_inference_steps(n);
        std::vector<double> t;
        for (const double v : spaced_timesteps(spacing_, config_.num_train_timesteps, n,
                                               config_.steps_offset, false))
            t.push_back(static_cast<float>(v));
        sigmas_.clear();
        for (const double s : np_interp(t, train_sigmas_))
            sigmas_.push_back(static_cast<float>(s));
        sigmas_.push_back(0.0f);
        timesteps_.clear();
        for (const double v : t)
            timesteps_.push_back(static_cast<float>(v));
    }

    int num_model_calls() const override { return static_cast<int>(timesteps_.size()); }
    at::Tensor timesteps() const override { return tensor_f32(timesteps_); }
    double timestep(int i) const override
    {
        check_call_index(i, "timestep");
        return timesteps_[static_cast<size_t>(i)];
    }
    at::Tensor sigmas() const override { return tensor_f32(sigmas_); }

    double init_noise_sigma() const override
    {
        const float max_sigma = sigmas_.empty()
                                    ? *std::max_element(train_sigmas_.begin(), train_sigmas_.end())
                                    : *std::max_element(sigmas_.begin(), sigmas_.end());
        if (spacing_ == "linspace" || spacing_ == "trailing")
            return max_sigma;
        return std::sqrt(max_sigma * max_sigma + 1.0f);
    }

    at::Tensor scale_model_input(const at::Tensor& x, int i) const override
    {
        check_call_index(i, "scale_model_input");
        const float sigma = sigmas_[static_cast<size_t>(i)];
        return x / static_cast<double>(std::sqrt(sigma * sigma + 1.0f));
    }

    StepResult step(const at::Tensor& model_output, int i, const at::Tensor& x,
                    const at::Tensor& noise) override
    {
        check_call_index(i, "step");
        require_noise(name(), noise, x);
        const float sigma = sigmas_[static_cast<size_t>(i)];
        const auto sample = x.to(torch::kFloat32);
        at::Tensor pred_original_sample;
        if (config_.prediction_type == "epsilon") {
            pred_original_sample = sample - model_output * static_cast<double>(sigma);
        } else { // v_prediction
            const float sigma_sq_1 = sigma * sigma + 1.0f;
            pred_original_sample =
                model_output * static_cast<double>(-sigma / std::sqrt(sigma_sq_1)) +
                sample / static_cast<double>(sigma_sq_1);
        }
        const float sigma_from = sigmas_[static_cast<size_t>(i)];
        const float sigma_to = sigmas_[static_cast<size_t>(i) + 1];
        const float from_sq = sigma_from * sigma_from;
        const float to_sq = sigma_to * sigma_to;
        const float sigma_up = std::sqrt(to_sq * (from_sq - to_sq) / from_sq);
        const float sigma_down = std::sqrt(to_sq - sigma_up * sigma_up);

        const auto derivative = (sample - pred_original_sample) / static_cast<double>(sigma);
        const float dt = sigma_down - sigma;
        auto prev_sample = sample + derivative * static_cast<double>(dt);
        prev_sample = prev_sample + noise.to(model_output.device(), model_output.scalar_type()) *
                                        static_cast<double>(sigma_up);
        return {prev_sample.to(model_output.scalar_type()), pred_original_sample};
    }

private:
    std::string spacing_;
    std::vector<float> train_sigmas_;
    std::vector<float> timesteps_, sigmas_;
};

} // namespace

std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& config)
{
    return std::make_unique<EulerAncestralScheduler>(config);
}

} // namespace psa::sched
