// SPDX-License-Identifier: GPL-3.0-or-later
// Euler (Karras et al. 2022, Algorithm 2 with s_churn = 0): deterministic first-order ODE steps in
// sigma space. Ported from diffusers v0.30.3 scheduling_euler_discrete.py: sigmas are interpolated
// in float64 (np.interp over the float32 table) and cast to float32, timesteps stay float32.
#include "schedulers/algorithms.h"
#include "schedulers/schedule_math.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace psa::sched {
namespace {

class EulerScheduler final : public Scheduler {
public:
    explicit EulerScheduler(const SchedulerConfig& config) : Scheduler(config)
    {
        if (config_.interpolation_type != "linear")
            unsupported(name(), "interpolation_type",
                        "'" + config_.interpolation_type + "' is not supported (expected linear)");
        if (config_.timestep_type != "discrete" && config_.prediction_type == "v_prediction")
            unsupported(name(), "timestep_type",
                        "'" + config_.timestep_type +
                            "' with v_prediction is not supported (expected discrete)");
        spacing_ = resolve_spacing(config_, "linspace");
        train_sigmas_ = train_sigmas(alphas_cumprod_);
        log_sigmas_ = log_float32(train_sigmas_);
    }

    std::string name() const override { return "euler"; }

    void set_timesteps(int n) override
    {
        check_num_inference_steps(n);
        std::vector<double> t;
        // Every spacing yields float32 timesteps before the interpolation.
        for (const double v : spaced_timesteps(spacing_, config_.num_train_timesteps, n,
                                               config_.steps_offset, false))
            t.push_back(static_cast<float>(v));
        std::vector<double> sigmas = np_interp(t, train_sigmas_);
        if (config_.use_karras_sigmas) {
            const double sigma_min = config_.sigma_min.value_or(sigmas.back());
            const double sigma_max = config_.sigma_max.value_or(sigmas.front());
            sigmas = karras_sigmas(sigma_min, sigma_max, n);
            t.clear();
            for (const double s : sigmas)
                t.push_back(sigma_to_t(s, log_sigmas_));
        }
        sigmas_.clear();
        for (const double s : sigmas)
            sigmas_.push_back(static_cast<float>(s));
        sigmas_.push_back(config_.final_sigmas_type == "sigma_min" ? train_sigmas_.front() : 0.0f);
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
        // Before set_timesteps() diffusers holds the full training table (plus a final 0).
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
                    const at::Tensor& /*noise*/) override
    {
        check_call_index(i, "step");
        const auto sample = x.to(torch::kFloat32); // diffusers upcasts the update to float32
        const float sigma = sigmas_[static_cast<size_t>(i)];
        const float sigma_hat = sigma; // sigma * (gamma + 1) with gamma = 0 (no churn)
        at::Tensor pred_original_sample;
        if (config_.prediction_type == "epsilon") {
            pred_original_sample = sample - model_output * static_cast<double>(sigma_hat);
        } else { // v_prediction
            const float sigma_sq_1 = sigma * sigma + 1.0f;
            pred_original_sample =
                model_output * static_cast<double>(-sigma / std::sqrt(sigma_sq_1)) +
                sample / static_cast<double>(sigma_sq_1);
        }
        const auto derivative = (sample - pred_original_sample) / static_cast<double>(sigma_hat);
        const float dt = sigmas_[static_cast<size_t>(i) + 1] - sigma_hat;
        const auto prev_sample =
            (sample + derivative * static_cast<double>(dt)).to(model_output.scalar_type());
        return {prev_sample, pred_original_sample};
    }

private:
    std::string spacing_;
    std::vector<float> train_sigmas_, log_sigmas_;
    std::vector<float> timesteps_, sigmas_;
};

} // namespace

std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& config)
{
    return std::make_unique<EulerScheduler>(config);
}

} // namespace psa::sched
