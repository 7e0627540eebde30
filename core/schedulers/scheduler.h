// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "schedulers/scheduler_config.h"

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace psa {

/// What one denoising update produces. pred_original_sample (x0) is undefined where the algorithm
/// has none (PNDM).
struct StepResult {
    at::Tensor prev_sample;
    at::Tensor pred_original_sample;
};

/// A diffusers-compatible sampler. Steps are addressed by model-call index i in
/// [0, num_model_calls()) because PNDM repeats a timestep. Schedulers are stateful (PNDM and
/// DPM-Solver keep earlier model outputs, so their steps must come in order 0, 1, 2, ...);
/// set_timesteps() resets that state. Not thread-safe. Arithmetic happens in the input's dtype
/// and device; scalar coefficients are computed on the CPU in float32, like diffusers.
class Scheduler {
public:
    virtual ~Scheduler() = default;

    /// Throws InvalidRequest for n < 1 or n > num_train_timesteps.
    virtual void set_timesteps(int num_inference_steps) = 0;
    /// == timesteps().size(0) (PNDM: steps + 1); 0 before set_timesteps().
    virtual int num_model_calls() const = 0;
    /// The values the UNet receives: CPU [num_model_calls()], int64 or float32 as in diffusers.
    virtual at::Tensor timesteps() const = 0;
    /// timesteps()[i] as a double.
    virtual double timestep(int i) const = 0;
    /// Scale of the initial latent noise (Euler: sigma_max).
    virtual double init_noise_sigma() const = 0;
    /// The UNet input for call i (Euler: x / sqrt(sigma_i^2 + 1); others: x itself).
    virtual at::Tensor scale_model_input(const at::Tensor& x, int i) const = 0;
    /// Whether step() needs `noise` (Euler ancestral).
    virtual bool needs_noise() const { return false; }
    /// One update for call i. `noise` is required when needs_noise() (same shape as x); the
    /// pipeline supplies it from a seeded CPU generator. Throws InvalidRequest before
    /// set_timesteps(), for i out of range, or for an out-of-order step of a stateful scheduler.
    virtual StepResult step(const at::Tensor& model_output, int i, const at::Tensor& x,
                            const at::Tensor& noise = {}) = 0;
    /// The forward (training) process: sqrt(acp_t) x0 + sqrt(1 - acp_t) noise for int64 t [B]
    /// (or a single timestep), in x0's dtype and device.
    virtual at::Tensor add_noise(const at::Tensor& x0, const at::Tensor& noise,
                                 const at::Tensor& t) const;
    /// Sigma schedule incl. the final value, float32 [num_model_calls() + 1]; undefined for
    /// DDIM/PNDM.
    virtual at::Tensor sigmas() const { return {}; }
    /// The name make_scheduler() knows it by.
    virtual std::string name() const = 0;

    const SchedulerConfig& config() const { return config_; }
    /// The training alphas_cumprod, float32 CPU [num_train_timesteps].
    const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }

protected:
    explicit Scheduler(SchedulerConfig config);
    /// Throws InvalidRequest unless 1 <= n <= num_train_timesteps.
    void check_num_inference_steps(int n) const;
    /// Throws InvalidRequest unless set_timesteps() ran and 0 <= i < num_model_calls().
    void check_call_index(int i, const char* what) const;

    SchedulerConfig config_;
    at::Tensor alphas_cumprod_;
    std::vector<float> alphas_cumprod_values_; // the same, for scalar arithmetic
};

/// The one name -> scheduler switch. Names: ddim, pndm, euler, euler-a, dpmpp-2m, dpmpp-2m-karras
/// (the DPM names fix algorithm_type dpmsolver++, solver_order 2 and use_karras_sigmas; everything
/// else comes from `config`). Throws InvalidRequest for an unknown name (listing the valid ones),
/// ConfigError for a config the scheduler cannot honour.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& config);
/// The names make_scheduler() accepts, in menu order.
std::vector<std::string> scheduler_names();

} // namespace psa
