// SPDX-License-Identifier: GPL-3.0-or-later
#include "adapter/adapter_file_info.h"

#include "adapter/token_layout.h"
#include "common/error.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <nlohmann/json.hpp>

namespace psa {

AdapterFileInfo read_adapter_file_info(const std::filesystem::path& path)
{
    const auto file = SafetensorsFile::open(path);
    const std::string what = path.string();
    const auto need = [&](const std::string& name) -> const TensorInfo& {
        if (!file.contains(name))
            throw ModelLoadError(what + ": not a PSA adapter (no tensor \"" + name + "\")");
        return file.info(name);
    };
    // The shapes decide the sizes (the reference's files have no metadata): proj maps user_dim
    // to num_tokens x cross_dim, and norm is cross_dim wide.
    const auto& proj = need("user_proj.proj.weight");
    const auto& norm = need("user_proj.norm.weight");
    if (proj.shape.size() != 2 || norm.shape.size() != 1 || norm.shape[0] == 0 ||
        proj.shape[0] % norm.shape[0] != 0)
        throw ModelLoadError(what + ": user_proj shapes " + shape_string(proj.shape) + " and " +
                             shape_string(norm.shape) + " do not form a projection to tokens");
    AdapterFileInfo info;
    info.cross_attention_dim = norm.shape[0];
    info.user_dim = proj.shape[1];
    info.num_tokens = proj.shape[0] / norm.shape[0];
    std::string first_missing_query_map; // the all-or-none rule is checked after the loop
    for (int i = 0;; ++i) {
        const std::string key = "psa_adapter." + std::to_string(i) + ".to_k_user.0.weight";
        if (!file.contains(key))
            break;
        const auto& k = file.info(key);
        if (k.shape.size() != 2)
            throw ModelLoadError(what + ": " + key + " is not a matrix");
        info.layer_dims.push_back(k.shape[0]);
        // Our extension: a user query map of the layer's own, in every layer or in none.
        const std::string q_key = "psa_adapter." + std::to_string(i) + ".to_q_user.0.weight";
        if (!file.contains(q_key)) {
            if (first_missing_query_map.empty())
                first_missing_query_map = q_key;
            continue;
        }
        const auto& q = file.info(q_key);
        if (q.shape.size() != 2 || q.shape[0] != k.shape[0])
            throw ModelLoadError(what + ": " + q_key + " is " + shape_string(q.shape) + ", expected [" +
                                 std::to_string(k.shape[0]) + ", input width]");
        info.query_dims.push_back(q.shape[1]);
    }
    if (!info.query_dims.empty() && !first_missing_query_map.empty())
        throw ModelLoadError(what + ": " + first_missing_query_map +
                             " is missing (other layers have user query maps; they go in every layer or in none)");
    info.learned_null_user = file.contains("null_user_embedding");

    const auto& meta = file.metadata();
    const auto get = [&](const char* key, const std::string& fallback) {
        const auto it = meta.find(key);
        return it == meta.end() ? fallback : it->second;
    };
    info.profile_encoder = get("profile_encoder", "precomputed");
    info.profile_encoder_version = get("profile_encoder_version", "");
    info.base_model = get("base_model", "");
    info.token_layout = get("token_layout", kDenseTokens);
    if (!is_token_layout(info.token_layout))
        throw ModelLoadError(what + ": metadata \"token_layout\" is \"" + info.token_layout +
                             "\", neither \"" + kDenseTokens + "\" nor \"" + kPerCategoryTokens + "\"");
    const auto gated = get("ban_gated_tokens", "false");
    if (gated != "true" && gated != "false")
        throw ModelLoadError(what + ": metadata \"ban_gated_tokens\" is \"" + gated +
                             "\", neither \"true\" nor \"false\"");
    info.ban_gated_tokens = gated == "true";
    if (info.ban_gated_tokens && info.token_layout != kPerCategoryTokens)
        throw ModelLoadError(what + ": metadata \"ban_gated_tokens\" is true, but its tokens are " +
                             info.token_layout + ", not " + kPerCategoryTokens);
    if (const auto cats = get("categories", ""); !cats.empty()) {
        try {
            info.categories = nlohmann::json::parse(cats).get<std::vector<std::string>>();
        } catch (const nlohmann::json::exception&) {
            throw ModelLoadError(what + ": metadata \"categories\" is not a JSON list of names");
        }
    }
    return info;
}

} // namespace psa
