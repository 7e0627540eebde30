// SPDX-License-Identifier: GPL-3.0-or-later
// Private to core/pretrain: a finished VAE in a run's stage folder (RUN/vae/final written by the VAE
// stage, RUN/decoder/final by the decoder stage), in the diffusers layout: config.json and
// diffusion_pytorch_model.safetensors (fp32).
#pragma once
#include "tensor_io/safetensors.h"
#include "vae/autoencoder_kl.h"

#include <nlohmann/json_fwd.hpp>

#include <filesystem>

namespace psa {

/// Loads `final_dir` strictly, on the CPU. Throws IoError/ConfigError/ModelLoadError naming the file.
AutoencoderKL load_final_vae(const std::filesystem::path& final_dir);

/// Every parameter and buffer of `vae` under its diffusers name, detached CPU copies.
NamedTensors vae_tensors(AutoencoderKL& vae);

/// Writes `tensors` and `config` into `final_dir` (created), each file atomically.
void write_final_vae(const std::filesystem::path& final_dir, const NamedTensors& tensors,
                     const nlohmann::json& config);

} // namespace psa
