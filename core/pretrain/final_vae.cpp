// SPDX-License-Identifier: GPL-3.0-or-later
#include "pretrain/final_vae.h"

#include "common/atomic_file.h"
#include "tensor_io/layers.h"
#include "tensor_io/state_dict.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace psa {

namespace fs = std::filesystem;

AutoencoderKL load_final_vae(const fs::path& final_dir)
{
    AutoencoderKL vae{nullptr};
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        vae = AutoencoderKL(AutoencoderKLConfig::from_json(final_dir / "config.json"));
    }
    const auto weights = final_dir / "diffusion_pytorch_model.safetensors";
    load_into(*vae, load_state_dict(weights), weights.string());
    return vae;
}

NamedTensors vae_tensors(AutoencoderKL& vae)
{
    torch::NoGradGuard no_grad;
    NamedTensors tensors;
    for (const auto& p : vae->named_parameters(true))
        tensors.emplace_back(p.key(), p.value().detach().to(torch::kCPU).clone());
    for (const auto& b : vae->named_buffers(true))
        tensors.emplace_back(b.key(), b.value().detach().to(torch::kCPU).clone());
    return tensors;
}

void write_final_vae(const fs::path& final_dir, const NamedTensors& tensors, const nlohmann::json& config)
{
    fs::create_directories(final_dir);
    save_safetensors(final_dir / "diffusion_pytorch_model.safetensors", tensors, {{"format", "pt"}});
    write_file_atomic(final_dir / "config.json", config.dump(2) + "\n");
}

} // namespace psa
