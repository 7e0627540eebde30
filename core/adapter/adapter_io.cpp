// SPDX-License-Identifier: GPL-3.0-or-later
#include "adapter/adapter_io.h"

#include "common/error.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace psa {

namespace fs = std::filesystem;

SafetyAdapter load_adapter(const fs::path& path, const std::vector<CrossAttentionLayerInfo>& unet_layers)
{
    const auto file = SafetensorsFile::open(path);
    const std::string what = path.string();
    const auto need = [&](const std::string& name) -> const TensorInfo& {
        if (!file.contains(name))
            throw ModelLoadError(what + ": not a PSA adapter (no tensor \"" + name + "\")");
        return file.info(name);
    };
    const auto& proj = need("user_proj.proj.weight");
    const auto& norm = need("user_proj.norm.weight");
    if (proj.shape.size() != 2 || norm.shape.size() != 1 || norm.shape[0] == 0 ||
        proj.shape[0] % norm.shape[0] != 0)
        throw ModelLoadError(what + ": user_proj shapes " + shape_string(proj.shape) + " and " +
                             shape_string(norm.shape) + " do not form a projection to tokens");
    SafetyAdapterConfig config;
    config.cross_attention_dim = norm.shape[0];
    config.user_dim = proj.shape[1];
    config.num_tokens = proj.shape[0] / norm.shape[0];
    for (int i = 0;; ++i) {
        const std::string key = "psa_adapter." + std::to_string(i) + ".to_k_user.0.weight";
        if (!file.contains(key))
            break;
        const auto& k = file.info(key);
        if (k.shape.size() != 2)
            throw ModelLoadError(what + ": " + key + " is not a matrix");
        config.layer_dims.push_back(k.shape[0]);
    }
    config.learned_null_user = file.contains("null_user_embedding");

    const auto& meta = file.metadata();
    const auto get = [&](const char* key, const std::string& fallback) {
        const auto it = meta.find(key);
        return it == meta.end() ? fallback : it->second;
    };
    config.profile_encoder = get("profile_encoder", "precomputed");
    config.profile_encoder_version = get("profile_encoder_version", "");
    config.base_model = get("base_model", "");
    if (const auto cats = get("categories", ""); !cats.empty()) {
        try {
            config.categories = nlohmann::json::parse(cats).get<std::vector<std::string>>();
        } catch (const nlohmann::json::exception&) {
            throw ModelLoadError(what + ": metadata \"categories\" is not a JSON list of names");
        }
    }
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
        {"cross_attention_dim", std::to_string(c.cross_attention_dim)},
        {"base_model", c.base_model},
        {"categories", nlohmann::json(c.categories).dump()},
        {"learned_null_user", c.learned_null_user ? "true" : "false"},
    };
    save_safetensors(path, tensors, meta);
}

} // namespace psa
