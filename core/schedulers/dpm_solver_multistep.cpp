// SPDX-License-Identifier: GPL-3.0-or-later
// DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++", Algorithm 2), orders 1 and 2, midpoint
// or Heun second-order term. Ported from diffusers v0.30.3 scheduling_dpmsolver_multistep.py: the
// first step is first-order (no history yet) and so is the last one when final_sigmas_type is
// 'zero' (or lower_order_final with fewer than 15 steps, or euler_at_final). The Karras variant
// maps its rho = 7 sigmas back to rounded training timesteps.
#include "schedulers/algorithms.h"
#include "schedulers/schedule_math.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace psa::sched {
namespace {

struct AlphaSigma {
    float alpha;
    float sigma;
    float lambda; // log(alpha) - log(sigma): half the log-SNR
};

// diffusers takes log and exp of 0-d float32 tensors; ATen's vectorised kernels can differ from
// libm in the last bit, so the scalars go through the same kernels (with the fixtures' torch 1.13
// the trajectories then match bit for bit; with libm they differed by ~3e-7 relative).
float log_f32(float v)
{
    return at::log(at::scalar_tensor(v, at::kFloat)).item<float>();
}
float exp_f32(float v)
{
    return at::exp(at::scalar_tensor(v, at::kFloat)).item<float>();
}

// Karras sigma -> the VP (alpha_t, sigma_t) pair: alpha = 1 / sqrt(sigma^2 + 1).
AlphaSigma alpha_sigma(float sigma)
{
    const float alpha_t = 1.0f / std::sqrt(sigma * sigma + 1.0f);
    const float sigma_t = sigma * alpha_t;
    return {alpha_t, sigma_t, log_f32(alpha_t) - log_f32(sigma_t)};
}

class DPMSolverMultistepScheduler final : public Scheduler {
public:
    explicit DPMSolverMultistepScheduler(const SchedulerConfig& config) : Scheduler(config)
    {
        if (config_.algorithm_type != "dpmsolver++")
            unsupported(name(), "algorithm_type",
                        "'" + config_.algorithm_type + "' is not supported (expected dpmsolver++)");
        if (config_.solver_order != 1 && config_.solver_order != 2)
            unsupported(name(), "solver_order",
                        std::to_string(config_.solver_order) +
                            " is not supported (expected 1 or 2)");
        if (config_.thresholding)
            unsupported(name(), "thresholding", "true is not supported (dynamic thresholding)");
        if (config_.use_lu_lambdas)
            unsupported(name(), "use_lu_lambdas", "true is not supported");
        spacing_ = resolve_spacing(config_, "linspace");
        train_sigmas_ = train_sigmas(alphas_cumprod_);
        log_sigmas_ = log_float32(train_sigmas_);
    }

    std::string name() const override
    {
        return config_.use_karras_sigmas ? "dpmpp-2m-karras" : "dpmpp-2m";
    }

    void set_timesteps(int n) override
    {
        check_num_inference_steps(n);
        const int train = config_.num_train_timesteps;
        const int last_timestep = train - clipped_count();

        std::vector<double> t;
        if (spacing_ == "linspace") {
            auto v = np_linspace(0.0, last_timestep - 1.0, n + 1);
            for (auto it = v.rbegin(); it + 1 != v.rend(); ++it) // reversed, without the final 0
                t.push_back(np_round(*it));
        } else if (spacing_ == "leading") {
            const int ratio = last_timestep / (n + 1);
            for (int k = n; k >= 1; --k)
                t.push_back(static_cast<double>(k) * ratio + config_.steps_offset);
        } else { // trailing
            // NumPy's arange can add a spurious last value that rounds to timestep -1; dropped.
            for (const double v : np_arange(last_timestep, 0.0, -static_cast<double>(train) / n)) {
                const double r = np_round(v) - 1.0;
                if (r >= 0.0)
                    t.push_back(r);
            }
        }

        std::vector<double> sigmas;
        if (config_.use_karras_sigmas) {
            // The table flipped to descending: sigma_max = its first, sigma_min = its last.
            sigmas = karras_sigmas(train_sigmas_.front(), train_sigmas_.back(), n);
            t.clear();
            for (const double s : sigmas)
                t.push_back(np_round(sigma_to_t(s, log_sigmas_)));
        } else {
            sigmas = np_interp(t, train_sigmas_);
        }
        sigmas_.clear();
        for (const double s : sigmas)
            sigmas_.push_back(static_cast<float>(s));
        sigmas_.push_back(config_.final_sigmas_type == "sigma_min" ? train_sigmas_.front() : 0.0f);

        timesteps_.clear();
        for (const double v : t) {
            const auto ti = static_cast<std::int64_t>(v);
            if (ti < 0 || ti >= train)
                throw InvalidRequest(name() + ": " + std::to_string(n) + " steps with '" +
                                     spacing_ + "' spacing and steps_offset " +
                                     std::to_string(config_.steps_offset) + " give timestep " +
                                     std::to_string(ti) + ", outside [0, " + std::to_string(train) +
                                     "); use fewer steps");
            timesteps_.push_back(ti);
        }
        model_outputs_.assign(static_cast<size_t>(config_.solver_order), at::Tensor());
        lower_order_nums_ = 0;
        last_index_ = -1;
    }

    int num_model_calls() const override { return static_cast<int>(timesteps_.size()); }
    at::Tensor timesteps() const override { return tensor_i64(timesteps_); }
    double timestep(int i) const override
    {
        check_call_index(i, "timestep");
        return static_cast<double>(timesteps_[static_cast<size_t>(i)]);
    }
    at::Tensor sigmas() const override { return tensor_f32(sigmas_); }
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
        // The first step may start anywhere (img2img); later ones must follow in order.
        if (last_index_ >= 0 && i != last_index_ + 1)
            throw InvalidRequest(name() + ": steps must be taken in order: expected call " +
                                 std::to_string(last_index_ + 1) + ", got " + std::to_string(i) +
                                 " (call set_timesteps() to start over)");
        last_index_ = i;
        const int steps = num_model_calls();
        const bool lower_order_final =
            i == steps - 1 &&
            (config_.euler_at_final || (config_.lower_order_final && steps < 15) ||
             config_.final_sigmas_type == "zero");

        const auto x0 = data_prediction(model_output, i, x);
        std::rotate(model_outputs_.begin(), model_outputs_.begin() + 1, model_outputs_.end());
        model_outputs_.back() = x0;

        const auto sample = x.to(torch::kFloat32); // diffusers upcasts the update to float32
        at::Tensor prev_sample;
        if (config_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final)
            prev_sample = first_order_update(x0, i, sample);
        else
            prev_sample = second_order_update(i, sample);
        if (lower_order_nums_ < config_.solver_order)
            ++lower_order_nums_;
        return {prev_sample.to(model_output.scalar_type()), x0};
    }

private:
    // searchsorted(flip(lambda_t), lambda_min_clipped): how many of the smallest half-log-SNRs
    // are cut from the end of the schedule (none for the default -inf).
    int clipped_count() const
    {
        const double limit = config_.lambda_min_clipped;
        int count = 0;
        for (auto it = alphas_cumprod_values_.rbegin(); it != alphas_cumprod_values_.rend(); ++it) {
            const float lambda = log_f32(std::sqrt(*it)) - log_f32(std::sqrt(1.0f - *it));
            if (!(lambda < limit))
                break;
            ++count;
        }
        return count;
    }

    // convert_model_output for dpmsolver++: the data prediction x0.
    at::Tensor data_prediction(const at::Tensor& model_output, int i, const at::Tensor& x) const
    {
        const auto s = alpha_sigma(sigmas_[static_cast<size_t>(i)]);
        if (config_.prediction_type == "epsilon")
            return (x - model_output * static_cast<double>(s.sigma)) / static_cast<double>(s.alpha);
        return x * static_cast<double>(s.alpha) - model_output * static_cast<double>(s.sigma);
    }

    // DPM-Solver++(1), the DDIM-equivalent step (paper eq. 5 with k = 1).
    at::Tensor first_order_update(const at::Tensor& x0, int i, const at::Tensor& sample) const
    {
        const auto t = alpha_sigma(sigmas_[static_cast<size_t>(i) + 1]);
        const auto s = alpha_sigma(sigmas_[static_cast<size_t>(i)]);
        const float h = t.lambda - s.lambda;
        return sample * static_cast<double>(t.sigma / s.sigma) -
               x0 * static_cast<double>(t.alpha * (exp_f32(-h) - 1.0f));
    }

    // DPM-Solver++(2M): the difference of the last two data predictions as first-derivative term.
    at::Tensor second_order_update(int i, const at::Tensor& sample) const
    {
        const auto t = alpha_sigma(sigmas_[static_cast<size_t>(i) + 1]);
        const auto s0 = alpha_sigma(sigmas_[static_cast<size_t>(i)]);
        const auto s1 = alpha_sigma(sigmas_[static_cast<size_t>(i) - 1]);
        const at::Tensor& m0 = model_outputs_[model_outputs_.size() - 1];
        const at::Tensor& m1 = model_outputs_[model_outputs_.size() - 2];
        const float h = t.lambda - s0.lambda;
        const float h_0 = s0.lambda - s1.lambda;
        const float r0 = h_0 / h;
        const at::Tensor& d0 = m0;
        const auto d1 = (m0 - m1) * static_cast<double>(1.0f / r0);
        const float phi = t.alpha * (exp_f32(-h) - 1.0f);
        const auto base =
            sample * static_cast<double>(t.sigma / s0.sigma) - d0 * static_cast<double>(phi);
        if (config_.solver_type == "midpoint")
            return base - d1 * static_cast<double>(0.5f * phi);
        // heun
        return base + d1 * static_cast<double>(t.alpha * ((exp_f32(-h) - 1.0f) / h + 1.0f));
    }

    std::string spacing_;
    std::vector<float> train_sigmas_, log_sigmas_;
    std::vector<std::int64_t> timesteps_;
    std::vector<float> sigmas_;
    // Multistep state, reset by set_timesteps().
    std::vector<at::Tensor> model_outputs_;
    int lower_order_nums_ = 0;
    int last_index_ = -1;
};

} // namespace

std::unique_ptr<Scheduler> make_dpm_solver_multistep(const SchedulerConfig& config)
{
    return std::make_unique<DPMSolverMultistepScheduler>(config);
}

} // namespace psa::sched
