// SPDX-License-Identifier: GPL-3.0-or-later
// Ported from the behaviour of diffusers' StableDiffusionPipeline.__call__ (v0.30): latents start
// at noise * init_noise_sigma; each step concatenates [uncond, cond], scales the input, runs the
// UNet once for both halves, guides, and steps the scheduler.
#include "pipeline/denoise.h"

#include <torch/torch.h>

namespace psa {

Outcome denoise(UNet2DConditionModel& unet, Scheduler& scheduler, const DenoiseInputs& in,
                JobControl& job, at::Tensor& latents, DenoiseTrace* trace,
                const std::function<void(int, const at::Tensor&)>& on_step)
{
    const bool guided = in.text_uncond.defined();
    const auto text = guided ? torch::cat({in.text_uncond, in.text_cond}) : in.text_cond;
    at::Tensor extra;
    if (in.extra_cond.defined())
        extra = guided ? torch::cat({in.extra_uncond, in.extra_cond}) : in.extra_cond;

    latents = in.noise * scheduler.init_noise_sigma();
    const auto timesteps = scheduler.timesteps();
    const int n = scheduler.num_model_calls();
    job.report(Stage::Denoise, 0, n);
    for (int i = 0; i < n; ++i) {
        if (job.stop_requested())
            return Outcome::Cancelled;
        const auto doubled = guided ? torch::cat({latents, latents}) : latents;
        const auto model_input = scheduler.scale_model_input(doubled, i);
        const auto t = timesteps[i].to(latents.device());
        auto noise_pred = unet->forward(model_input, t, text, extra);
        if (trace) {
            trace->unet_input.push_back(model_input);
            trace->unet_output.push_back(noise_pred);
        }
        if (guided) {
            auto halves = noise_pred.chunk(2);
            noise_pred = halves[0] + in.guidance_scale * (halves[1] - halves[0]);
        }
        at::Tensor step_noise;
        if (scheduler.needs_noise()) {
            // Per-image CPU generators keep a seed's image identical on every device.
            std::vector<at::Tensor> parts;
            for (int64_t b = 0; b < latents.size(0); ++b) {
                auto shape = latents.sizes().vec();
                shape[0] = 1;
                const auto opts = torch::TensorOptions().dtype(torch::kFloat);
                parts.push_back(b < static_cast<int64_t>(in.generators.size())
                                    ? torch::randn(shape, in.generators[b], opts)
                                    : torch::randn(shape, opts));
            }
            step_noise = torch::cat(parts).to(latents.device(), latents.scalar_type());
        }
        latents = scheduler.step(noise_pred, i, latents, step_noise).prev_sample;
        if (trace)
            trace->latents_after_step.push_back(latents);
        job.report(Stage::Denoise, i + 1, n);
        if (on_step)
            on_step(i + 1, latents);
    }
    return Outcome::Completed;
}

at::Tensor latent_preview(const at::Tensor& latents)
{
    const auto x = latents.detach().to(torch::kFloat);
    if (x.size(1) == 4) {
        // Least-squares fit of SD 1.x latents to RGB, widely used for live previews.
        const auto m = torch::tensor({{0.298f, 0.207f, 0.208f},
                                      {0.187f, 0.286f, 0.173f},
                                      {-0.158f, 0.189f, 0.264f},
                                      {-0.184f, -0.271f, -0.473f}},
                                     x.options());
        const auto rgb = torch::einsum("bchw,cr->brhw", {x, m});
        return ((rgb + 1.0) / 2.0).clamp(0, 1);
    }
    const auto grey = torch::sigmoid(x.mean(1, true));
    return grey.expand({-1, 3, -1, -1});
}

} // namespace psa
