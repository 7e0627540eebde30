// SPDX-License-Identifier: GPL-3.0-or-later
// What a PSA adapter file holds, read from its safetensors header alone (torch-free facade): the
// UI checks a chosen file with it, the trainer compares a starting adapter with its run, and
// load_adapter builds the module from it.
#pragma once
#include "adapter/token_layout.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psa {

struct AdapterFileInfo {
    std::int64_t user_dim = 0;            ///< width of the profile embedding it expects
    std::int64_t num_tokens = 0;          ///< user tokens per profile
    std::string token_layout;             ///< adapter/token_layout.h ("dense" when not recorded)
    std::int64_t cross_attention_dim = 0; ///< width of each user token
    std::vector<std::int64_t> layer_dims; ///< to_k_user rows per adapter layer, processor order
    std::vector<std::int64_t> query_dims; ///< to_q_user columns per layer; empty: no own query maps
    bool learned_null_user = false;       ///< carries a trained null-user embedding
    bool ban_gated_tokens = false;        ///< tokens gated by the bans (SafetyAdapterConfig)
    std::string profile_encoder;          ///< "structured", or "precomputed" (files without metadata)
    std::string profile_encoder_version;
    std::string base_model;               ///< the model it was trained on ("" when not recorded)
    std::vector<std::string> categories;  ///< the category order of its profile encoder

    /// A per-category adapter that ends in the sink token (adapter/token_layout.h).
    bool has_sink_token() const
    {
        return token_layout == kPerCategoryTokens &&
               psa::has_sink_token(static_cast<std::int64_t>(categories.size()), num_tokens);
    }
};

/// Reads the header of `path` (no tensor data). Throws IoError when the file is missing or not
/// safetensors, ModelLoadError naming the file when it is not a PSA adapter.
AdapterFileInfo read_adapter_file_info(const std::filesystem::path& path);

} // namespace psa
