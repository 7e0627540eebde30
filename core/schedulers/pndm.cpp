// SPDX-License-Identifier: GPL-3.0-or-later
// PNDM (Liu et al. 2022): pseudo Runge-Kutta warm-up, then pseudo linear multistep (PLMS).
// Ported from diffusers v0.30.3 scheduling_pndm.py. With skip_prk_steps (Stable Diffusion's
// setting) the warm-up is replaced by repeating the second timestep: n steps take n + 1 model
// calls, the second of which re-does the first update with the averaged model outputs.
#include "schedulers/algorithms.h"
#include "schedulers/schedule_math.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <deque>

namespace psa::sched {
namespace {

class PNDMScheduler final : public Scheduler {
public:
    explicit PNDMScheduler(const SchedulerConfig& config) : Scheduler(config)
    {
        spacing_ = resolve_spacing(config_, "leading");
        final_alpha_cumprod_ =
            config_.set_alpha_to_one.value_or(false) ? 1.0f : alphas_cumprod_values_[0];
    }

    std::string name() const override { return "pndm"; }

    void set_timesteps(int n) override
    {
        check_num_inference_steps(n);
        const int train = config_.num_train_timesteps;
        if (!config_.skip_prk_steps && n < kPndmOrder)
            throw InvalidRequest(name() + ": with skip_prk_steps false at least " +
                                 std::to_string(kPndmOrder) + " steps are needed, got " +
                                 std::to_string(n));
        const auto descending = spaced_timesteps(spacing_, train, n, config_.steps_offset, true);
        const std::vector<std::int64_t> base(descending.rbegin(), descending.rend()); // ascending

        std::vector<std::int64_t> prk, plms;
        if (config_.skip_prk_steps) {
            // [t0 .. t_{n-2}] + [t_{n-2}] + [t_{n-1}], reversed: call 2 repeats a timestep.
            plms.assign(base.begin(), base.end() - 1);
            if (base.size() >= 2)
                plms.push_back(base[base.size() - 2]);
            plms.push_back(base.back());
            std::reverse(plms.begin(), plms.end());
        } else {
            // The last four timesteps, each followed by its half-step; the 12 RK calls visit
            // t, t-h/2, t-h/2, t-h per step (diffusers' repeat/tile construction).
            const std::int64_t half = train / n / 2;
            std::vector<std::int64_t> pairs;
            for (auto it = base.end() - kPndmOrder; it != base.end(); ++it) {
                pairs.push_back(*it);
                pairs.push_back(*it + half);
            }
            pairs.pop_back();
            std::vector<std::int64_t> doubled;
            for (const auto v : pairs) {
                doubled.push_back(v);
                doubled.push_back(v);
            }
            prk.assign(doubled.begin() + 1, doubled.end() - 1);
            std::reverse(prk.begin(), prk.end());
            plms.assign(base.begin(), base.end() - 3);
            std::reverse(plms.begin(), plms.end());
        }
        std::vector<std::int64_t> all = prk;
        all.insert(all.end(), plms.begin(), plms.end());
        for (const auto t : all)
            if (t < 0 || t >= train)
                throw InvalidRequest(name() + ": " + std::to_string(n) + " steps with '" +
                                     spacing_ + "' spacing and steps_offset " +
                                     std::to_string(config_.steps_offset) + " give timestep " +
                                     std::to_string(t) + ", outside [0, " + std::to_string(train) +
                                     "); use fewer steps");
        prk_timesteps_ = std::move(prk);
        timesteps_ = std::move(all);
        num_inference_steps_ = n;
        ets_.clear();
        counter_ = 0;
        last_index_ = -1;
        cur_model_output_ = at::Tensor();
        cur_sample_ = at::Tensor();
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
        // The first step may start anywhere (img2img); later ones must follow in order, because
        // the multistep history belongs to consecutive calls.
        if (last_index_ >= 0 && i != last_index_ + 1)
            throw InvalidRequest(name() + ": steps must be taken in order: expected call " +
                                 std::to_string(last_index_ + 1) + ", got " + std::to_string(i) +
                                 " (call set_timesteps() to start over)");
        last_index_ = i;
        const std::int64_t t = timesteps_[static_cast<size_t>(i)];
        at::Tensor prev;
        if (counter_ < static_cast<int>(prk_timesteps_.size()) && !config_.skip_prk_steps)
            prev = step_prk(model_output, t, x);
        else
            prev = step_plms(model_output, t, x);
        return {prev, at::Tensor()};
    }

private:
    static constexpr int kPndmOrder = 4;

    at::Tensor step_prk(const at::Tensor& model_output, std::int64_t timestep, const at::Tensor& x)
    {
        const std::int64_t ratio = config_.num_train_timesteps / num_inference_steps_;
        const std::int64_t diff_to_prev = counter_ % 2 ? 0 : ratio / 2;
        const std::int64_t prev_timestep = timestep - diff_to_prev;
        const std::int64_t t = prk_timesteps_[static_cast<size_t>(counter_ / 4 * 4)];

        at::Tensor output = model_output;
        switch (counter_ % 4) {
        case 0:
            cur_model_output_ = accumulate(cur_model_output_, model_output * (1.0 / 6));
            ets_.push_back(model_output);
            cur_sample_ = x;
            break;
        case 1:
        case 2:
            cur_model_output_ = accumulate(cur_model_output_, model_output * (1.0 / 3));
            break;
        default:
            output = accumulate(cur_model_output_, model_output * (1.0 / 6));
            cur_model_output_ = at::Tensor();
            break;
        }
        const at::Tensor& sample = cur_sample_.defined() ? cur_sample_ : x;
        auto prev = prev_sample(sample, t, prev_timestep, output);
        ++counter_;
        return prev;
    }

    at::Tensor step_plms(const at::Tensor& model_output, std::int64_t timestep, const at::Tensor& x)
    {
        if (!config_.skip_prk_steps && ets_.size() < 3)
            throw InvalidRequest(name() +
                                 ": PLMS steps need the 12 Runge-Kutta warm-up calls first");
        const std::int64_t ratio = config_.num_train_timesteps / num_inference_steps_;
        std::int64_t t = timestep;
        std::int64_t prev_timestep = t - ratio;
        if (counter_ != 1) {
            while (ets_.size() > 3)
                ets_.pop_front();
            ets_.push_back(model_output);
        } else {
            // The repeated timestep: redo the update from t + ratio.
            prev_timestep = t;
            t = t + ratio;
        }

        at::Tensor output;
        at::Tensor sample = x;
        const size_t n = ets_.size();
        auto e = [&](size_t back) -> const at::Tensor& { return ets_[n - back]; }; // e(1) = newest
        if (n == 1 && counter_ == 0) {
            output = model_output;
            cur_sample_ = x;
        } else if (n == 1 && counter_ == 1) {
            output = (model_output + e(1)) / 2;
            sample = cur_sample_;
            cur_sample_ = at::Tensor();
        } else if (n == 2) {
            output = (e(1) * 3 - e(2)) / 2;
        } else if (n == 3) {
            output = (e(1) * 23 - e(2) * 16 + e(3) * 5) / 12;
        } else {
            output = (e(1) * 55 - e(2) * 59 + e(3) * 37 - e(4) * 9) * (1.0 / 24);
        }
        auto prev = prev_sample(sample, t, prev_timestep, output);
        ++counter_;
        return prev;
    }

    // Eq. (9) of the PNDM paper: x_{t-d} from x_t and the (combined) noise estimate.
    at::Tensor prev_sample(const at::Tensor& sample, std::int64_t t, std::int64_t prev_t,
                           at::Tensor model_output) const
    {
        const float alpha_prod_t = alpha_at(t);
        const float alpha_prod_t_prev = prev_t >= 0 ? alpha_at(prev_t) : final_alpha_cumprod_;
        const float beta_prod_t = 1.0f - alpha_prod_t;
        const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
        if (config_.prediction_type == "v_prediction")
            model_output = model_output * static_cast<double>(std::sqrt(alpha_prod_t)) +
                           sample * static_cast<double>(std::sqrt(beta_prod_t));
        const float sample_coeff = std::sqrt(alpha_prod_t_prev / alpha_prod_t);
        const float denom = alpha_prod_t * std::sqrt(beta_prod_t_prev) +
                            std::sqrt(alpha_prod_t * beta_prod_t * alpha_prod_t_prev);
        return sample * static_cast<double>(sample_coeff) -
               model_output * static_cast<double>(alpha_prod_t_prev - alpha_prod_t) /
                   static_cast<double>(denom);
    }

    float alpha_at(std::int64_t t) const
    {
        TORCH_CHECK(t >= 0 && t < config_.num_train_timesteps, "pndm: timestep ", t,
                    " out of range");
        return alphas_cumprod_values_[static_cast<size_t>(t)];
    }

    static at::Tensor accumulate(const at::Tensor& sum, const at::Tensor& term)
    {
        return sum.defined() ? sum + term : term;
    }

    std::string spacing_;
    float final_alpha_cumprod_ = 1.0f;
    std::vector<std::int64_t> timesteps_, prk_timesteps_;
    int num_inference_steps_ = 0;
    // Multistep state, reset by set_timesteps().
    std::deque<at::Tensor> ets_;
    int counter_ = 0;
    int last_index_ = -1;
    at::Tensor cur_model_output_, cur_sample_;
};

} // namespace

std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& config)
{
    return std::make_unique<PNDMScheduler>(config);
}

} // namespace psa::sched
