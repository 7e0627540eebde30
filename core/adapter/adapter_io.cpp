// SPDX-License-Identifier: GPL-3.0-or-later
#include "adapter/adapter_io.h"

#include "adapter/adapter_file_info.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace psa {

namespace fs = std::filesystem;

SafetyAdapter load_adapter(const fs::path& path, const std::vector<CrossAttentionLayerInfo>& unet_layers)
{
    const std::string what = path.string();
    const auto info = read_adapter_file_info(path);
    SafetyAdapterConfig config;
    config.user_dim = info.user_dim;
    config.num_tokens = info.num_tokens;
    config.token_layout = info.token_layout;
    config.cross_attention_dim = info.cross_attention_dim;
    config.layer_dims = info.layer_dims;
    config.query_dims = info.query_dims;
    config.learned_null_user = info.learned_null_user;
    config.ban_gated_tokens = info.ban_gated_tokens;
    config.profile_encoder = info.profile_encoder;
    config.profile_encoder_version = info.profile_encoder_version;
    config.base_model = info.base_model;
    config.categories = info.categories;
    check_adapter_fits(config, unet_layers, what);

    SafetyAdapter adapter(nullptr);
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        adapter = SafetyAdapter(config);
    }
    load_into(*adapter, load_state_dict(path), what);
    return adapter;
}

void save_adapter(const fs::path& path, SafetyAdapterImpl& adapter)
{
    const auto& c = adapter.config();
    NamedTensors tensors;
    for (const auto& p : adapter.named_parameters(true))
        tensors.emplace_back(p.key(), p.value().detach().to(torch::kCPU, torch::kFloat));
    std::map<std::string, std::string> meta = {
        {"format", "psa-adapter/1"},
        {"profile_encoder", c.profile_encoder},
        {"profile_encoder_version", c.profile_encoder_version},
        {"user_dim", std::to_string(c.user_dim)},
        {"num_tokens", std::to_string(c.num_tokens)},
        {"token_layout", c.token_layout},
        {"cross_attention_dim", std::to_string(c.cross_attention_dim)},
        {"base_model", c.base_model},
        {"categories", nlohmann::json(c.categories).dump()},
        {"learned_null_user", c.learned_null_user ? "true" : "false"},
        {"ban_gated_tokens", c.ban_gated_tokens ? "true" : "false"},
    };
    save_safetensors(path, tensors, meta);
}

} // namespace psa
