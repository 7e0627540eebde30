// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "pipeline/model_loading.h"
#include "schedulers/scheduler_config.h"
#include "text_encoder/clip_text_config.h"
#include "text_encoder/clip_text_model.h"
#include "tokenizer/clip_tokenizer.h"
#include "unet/unet.h"
#include "unet/unet_config.h"
#include "vae/autoencoder_kl.h"
#include "vae/vae_config.h"

#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <string>

namespace psa {

struct ModelComponents;
/// Moves every module to the components' device and dtype and switches to eval mode.
void finalize_components(ModelComponents& model);

/// A loaded Stable Diffusion model: its configs and modules on one device and dtype, in eval
/// mode. Shared between requests; not thread-safe (one worker uses it at a time).
struct ModelComponents {
    std::string name;                 // folder or file name, for metadata
    std::filesystem::path source;
    std::string kind = "SD1";
    std::shared_ptr<CLIPTokenizer> tokenizer;
    CLIPTextConfig text_config;
    UNet2DConditionConfig unet_config;
    AutoencoderKLConfig vae_config;
    SchedulerConfig scheduler_config;
    CLIPTextModel text_encoder{nullptr};
    UNet2DConditionModel unet{nullptr};
    AutoencoderKL vae{nullptr};
    c10::Device device{c10::kCPU};
    c10::ScalarType dtype = c10::ScalarType::Float;

    /// Pixels per latent cell: 2^(number of VAE blocks - 1) (8 for SD 1.5).
    int latent_factor() const;
    /// The UNet's sample_size times latent_factor (512 for SD 1.5).
    int default_image_size() const;
};

} // namespace psa
