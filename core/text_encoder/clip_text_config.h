// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace psa {

/// Hyper-parameters of a CLIP text transformer. Field names are the Hugging Face `config.json`
/// keys (transformers CLIPTextConfig); unlisted keys (dropout, initializer_*) are ignored.
struct CLIPTextConfig {
    int64_t vocab_size = 49408;
    int64_t hidden_size = 768;
    int64_t intermediate_size = 3072;
    int64_t num_hidden_layers = 12;
    int64_t num_attention_heads = 12;
    int64_t max_position_embeddings = 77;
    std::string hidden_act = "quick_gelu";  ///< "quick_gelu" (x*sigmoid(1.702x)) or "gelu" (erf)
    double layer_norm_eps = 1e-5;
    std::optional<int64_t> projection_dim;  ///< used only by CLIPTextModelWithProjection (SDXL)
    /// 2 (SD1.x's legacy value): the pooled token is argmax(input_ids), which is the first
    /// <|endoftext|> (49407, the largest id); any other value: the first position holding it.
    int64_t eos_token_id = 2;

    /// CLIP ViT-L/14 text tower as shipped in SD1.5's text_encoder/config.json.
    static CLIPTextConfig sd15();
    /// A few-second test model (hidden 16, 1 layer, 2 heads; full vocabulary and 77 positions).
    static CLIPTextConfig tiny();
    /// Reads a Hugging Face config.json. Throws ConfigError naming the file and the key for a
    /// missing required key (hidden_size, intermediate_size, num_hidden_layers,
    /// num_attention_heads), a wrong JSON type or an unsupported value.
    static CLIPTextConfig from_json(const std::filesystem::path& path);

    /// Throws ConfigError ("<where>: <key> ...") when the values cannot build a model.
    void validate(const std::string& where) const;
};

} // namespace psa
