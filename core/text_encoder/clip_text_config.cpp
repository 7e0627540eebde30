// SPDX-License-Identifier: GPL-3.0-or-later
// Defaults follow transformers' CLIPTextConfig except for the architecture keys, which must be
// present: a silently defaulted hidden_size would only surface later as a wall of mis-shaped keys.
#include "text_encoder/clip_text_config.h"

#include "common/error.h"
#include "common/json_fields.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace psa {


CLIPTextConfig CLIPTextConfig::sd15()
{
    CLIPTextConfig c;
    c.projection_dim = 768;
    return c;
}

CLIPTextConfig CLIPTextConfig::tiny()
{
    CLIPTextConfig c;
    c.hidden_size = 16;
    c.intermediate_size = 64;
    c.num_hidden_layers = 1;
    c.num_attention_heads = 2;
    c.projection_dim = 16;
    return c;
}

CLIPTextConfig CLIPTextConfig::from_json(const std::filesystem::path& path)
{
    const nlohmann::json j = read_json_object_file(path);
    const JsonFields f{j, path.string()};
    CLIPTextConfig c;
    c.vocab_size = f.integer("vocab_size", c.vocab_size);
    c.hidden_size = f.integer("hidden_size", std::nullopt);
    c.intermediate_size = f.integer("intermediate_size", std::nullopt);
    c.num_hidden_layers = f.integer("num_hidden_layers", std::nullopt);
    c.num_attention_heads = f.integer("num_attention_heads", std::nullopt);
    c.max_position_embeddings = f.integer("max_position_embeddings", c.max_position_embeddings);
    c.hidden_act = f.string("hidden_act", c.hidden_act);
    c.layer_norm_eps = f.number("layer_norm_eps", c.layer_norm_eps);
    if (f.find("projection_dim"))
        c.projection_dim = f.integer("projection_dim", std::nullopt);
    c.eos_token_id = f.integer("eos_token_id", c.eos_token_id);
    c.validate(path.string());
    return c;
}

void CLIPTextConfig::validate(const std::string& where) const
{
    const auto positive = [&](const char* key, int64_t v) {
        if (v <= 0)
            throw ConfigError(path_message(where, std::string("\"") + key + "\" must be positive, got " +
                                                      std::to_string(v)));
    };
    positive("vocab_size", vocab_size);
    positive("hidden_size", hidden_size);
    positive("intermediate_size", intermediate_size);
    positive("num_hidden_layers", num_hidden_layers);
    positive("num_attention_heads", num_attention_heads);
    positive("max_position_embeddings", max_position_embeddings);
    if (projection_dim)
        positive("projection_dim", *projection_dim);
    if (hidden_size % num_attention_heads != 0)
        throw ConfigError(path_message(where, "\"hidden_size\" " + std::to_string(hidden_size) +
                                                  " is not divisible by \"num_attention_heads\" " +
                                                  std::to_string(num_attention_heads)));
    if (hidden_act != "quick_gelu" && hidden_act != "gelu")
        throw ConfigError(path_message(where, "\"hidden_act\": \"" + hidden_act +
                                                  "\" is not supported (quick_gelu or gelu)"));
    if (!(layer_norm_eps > 0))
        throw ConfigError(path_message(where, "\"layer_norm_eps\" must be positive"));
}

} // namespace psa
