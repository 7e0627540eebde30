// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "common/progress.h"
#include "schedulers/scheduler.h"
#include "unet/unet.h"

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

namespace psa {

/// The classifier-free-guided denoise loop of StableDiffusionPipeline, at the tensor level.
struct DenoiseInputs {
    at::Tensor noise;          // [B, C, h, w] N(0, 1), scaled by init_noise_sigma inside
    at::Tensor text_cond;      // [B, L, D]
    at::Tensor text_uncond;    // [B, L, D]; undefined: no guidance
    at::Tensor extra_cond;     // [B, T, D] context next to the text (user tokens); optional
    at::Tensor extra_uncond;   // [B, T, D]; with text_uncond
    double guidance_scale = 7.5;
    /// One CPU generator per image, for samplers that draw noise each step (Euler a).
    std::vector<at::Generator> generators;
};

/// Optional record of every step, for parity tests: UNet input (after scale_model_input, [2B,...]
/// with guidance, uncond first), UNet output, latents after the step.
struct DenoiseTrace {
    std::vector<at::Tensor> unet_input, unet_output, latents_after_step;
};

/// Runs scheduler.num_model_calls() steps (set_timesteps must have been called). Checks the stop
/// token before each step and reports Stage::Denoise progress after it. On completion `latents`
/// holds the final latents; on cancellation it holds the latest ones.
Outcome denoise(UNet2DConditionModel& unet, Scheduler& scheduler, const DenoiseInputs& inputs,
                JobControl& job, at::Tensor& latents, DenoiseTrace* trace = nullptr,
                const std::function<void(int step, const at::Tensor& latents)>& on_step = {});

/// A cheap latent -> RGB preview in [0, 1] ([B, 3, h, w]): SD 1.x's linear approximation for
/// 4-channel latents, else a grey image of the channel mean.
at::Tensor latent_preview(const at::Tensor& latents);

} // namespace psa
