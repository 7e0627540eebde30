// SPDX-License-Identifier: GPL-3.0-or-later
// DDIM (Song et al. 2021, eq. 12) with eta = 0: deterministic. Ported from diffusers v0.30.3
// scheduling_ddim.py, keeping its quirks: the previous timestep is t - N // n whatever the spacing,
// and the step past t = 0 uses final_alpha_cumprod (alphas_cumprod[0] unless set_alpha_to_one).
#include "schedulers/algorithms.h"
#include "schedulers/schedule_math.h"

#include "common/error.h"

#include <torch/torch.h>

#include <cmath>

namespace psa::sched {
namespace {

class DDIMScheduler final : public Scheduler {
public:
    explicit DDIMScheduler(const SchedulerConfig& config) : Scheduler(config)
    {
        if (config_.thresholding)
            unsupported(name(), "thresholding", "true is not supported (dynamic thresholding)");
        spacing_ = resolve_spacing(config_, "leading");
        final_alpha_cumprod_ =
            config_.set_alpha_to_one.value_or(true) ? 1.0f : alphas_cumprod_values_[0];
        clip_sample_ = config_.clip_sample.value_or(true);
    }

    std::string name() const override { return "ddim"; }

    void set_timesteps(int n) override
    {
        check_num_inference_steps(n);
        const int train = config_.num_train_timesteps;
        std::vector<std::int64_t> t;
        for (const double v : spaced_timesteps(spacing_, train, n, config_.steps_offset, true)) {
            const auto ti = static_cast<std::int64_t>(v);
            if (ti < 0 || ti >= train)
                throw InvalidRequest(name() + ": " + std::to_string(n) + " steps with '" +
                                     spacing_ + "' spacing and steps_offset " +
                                     std::to_string(config_.steps_offset) + " give timestep " +
                                     std::to_string(ti) + ", outside [0, " + std::to_string(train) +
                                     "); use fewer steps");
            t.push_back(ti);
        }
        timesteps_ = std::move(t);
        num_inference_steps_ = n;
    }

    int num_model_calls() const override { return static_cast<int>(timesteps_.size()); }
    at::Tensor timesteps() const override { return tensor_i64(timesteps_); }
    double timestep(int i) const override
    {
        check_call_index(i, "timestep");
        return static_cast<double>(timesteps_[static_cast<size_t>(i)]);
    }
    double init_noise_sigma() const override { return 1.0; }
    at::Tensor scale_model_input(const at::Tensor& x, int i) const override
    {
        check_call_index(i, "scale_model_input");
        return x;
    }

    StepResult step(const at::Tensor& model_output, int i, const at::Tensor& x,
                    const at::Tensor& /*noise*/) override
    {
        check_call_index(i, "step");
        const std::int64_t t = timesteps_[static_cast<size_t>(i)];
        const std::int64_t prev_t = t - config_.num_train_timesteps / num_inference_steps_;
        // Scalars in float32, as diffusers indexes its float32 alphas_cumprod tensor.
        const float alpha_prod_t = alphas_cumprod_values_[static_cast<size_t>(t)];
        const float alpha_prod_t_prev = prev_t >= 0
                                            ? alphas_cumprod_values_[static_cast<size_t>(prev_t)]
                                            : final_alpha_cumprod_;
        const float beta_prod_t = 1.0f - alpha_prod_t;
        const double sqrt_alpha = std::sqrt(alpha_prod_t);
        const double sqrt_beta = std::sqrt(beta_prod_t);

        at::Tensor pred_original_sample, pred_epsilon;
        if (config_.prediction_type == "epsilon") {
            pred_original_sample = (x - model_output * sqrt_beta) / sqrt_alpha;
            pred_epsilon = model_output;
        } else { // v_prediction
            pred_original_sample = x * sqrt_alpha - model_output * sqrt_beta;
            pred_epsilon = model_output * sqrt_alpha + x * sqrt_beta;
        }
        if (clip_sample_)
            pred_original_sample =
                pred_original_sample.clamp(-config_.clip_sample_range, config_.clip_sample_range);

        // eta = 0, so sigma_t = 0 and the direction term keeps all of 1 - alpha_prev.
        const double direction = std::sqrt(1.0f - alpha_prod_t_prev);
        const auto prev_sample =
            pred_original_sample * static_cast<double>(std::sqrt(alpha_prod_t_prev)) +
            pred_epsilon * direction;
        return {prev_sample, pred_original_sample};
    }

private:
    std::string spacing_;
    float final_alpha_cumprod_ = 1.0f;
    bool clip_sample_ = true;
    std::vector<std::int64_t> timesteps_;
    int num_inference_steps_ = 0;
};

} // namespace

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& config)
{
    return std::make_unique<DDIMScheduler>(config);
}

} // namespace psa::sched
