// SPDX-License-Identifier: GPL-3.0-or-later
// The parts every scheduler shares: the training schedule, argument checks and the DDPM forward
// process (diffusers' DDPMScheduler.add_noise, which training uses whatever the sampler).
#include "schedulers/scheduler.h"

#include "common/error.h"

#include <torch/torch.h>

namespace psa {

Scheduler::Scheduler(SchedulerConfig config) : config_(std::move(config))
{
    config_.validate("scheduler config");
    alphas_cumprod_ = config_.alphas_cumprod();
    const auto acp = alphas_cumprod_.contiguous();
    const float* p = acp.data_ptr<float>();
    alphas_cumprod_values_.assign(p, p + acp.numel());
}

void Scheduler::check_num_inference_steps(int n) const
{
    if (n < 1 || n > config_.num_train_timesteps)
        throw InvalidRequest(name() + ": num_inference_steps must be in [1, " +
                             std::to_string(config_.num_train_timesteps) + "], got " +
                             std::to_string(n));
}

void Scheduler::check_call_index(int i, const char* what) const
{
    const int calls = num_model_calls();
    if (calls == 0)
        throw InvalidRequest(name() + ": " + what + "() called before set_timesteps()");
    if (i < 0 || i >= calls)
        throw InvalidRequest(name() + ": " + what + "() call index " + std::to_string(i) +
                             " is out of range [0, " + std::to_string(calls) + ")");
}

at::Tensor Scheduler::add_noise(const at::Tensor& x0, const at::Tensor& noise,
                                const at::Tensor& t) const
{
    TORCH_CHECK(noise.sizes() == x0.sizes(), "add_noise: noise must be shaped like x0 ", x0.sizes(),
                ", got ", noise.sizes());
    TORCH_CHECK(!at::isFloatingType(t.scalar_type()) && t.dim() <= 1,
                "add_noise: t must be an integer tensor [B] or a scalar, got ", t.scalar_type(),
                " ", t.sizes());
    TORCH_CHECK(x0.dim() >= 1 && (t.numel() == 1 || t.numel() == x0.size(0)), "add_noise: t has ",
                t.numel(), " values for a batch of ", x0.dim() >= 1 ? x0.size(0) : 0);
    const auto t_cpu = t.to(torch::kCPU, torch::kInt64).reshape({-1});
    const auto t_min = t_cpu.min().item<std::int64_t>();
    const auto t_max = t_cpu.max().item<std::int64_t>();
    if (t_min < 0 || t_max >= config_.num_train_timesteps)
        throw InvalidRequest(name() + ": add_noise timestep out of range [0, " +
                             std::to_string(config_.num_train_timesteps) + "): got " +
                             std::to_string(t_min < 0 ? t_min : t_max));
    // [B] -> [B, 1, 1, ...] so that it broadcasts over the sample dimensions.
    std::vector<std::int64_t> shape(static_cast<size_t>(x0.dim()), 1);
    shape[0] = t_cpu.numel();
    const auto acp = alphas_cumprod_.index_select(0, t_cpu).to(x0.device(), x0.scalar_type());
    const auto sqrt_alpha_prod = acp.pow(0.5).reshape(shape);
    const auto sqrt_one_minus_alpha_prod = (1 - acp).pow(0.5).reshape(shape);
    return sqrt_alpha_prod * x0 + sqrt_one_minus_alpha_prod * noise;
}

} // namespace psa
