// SPDX-License-Identifier: GPL-3.0-or-later
// Defaults follow transformers' CLIPTextConfig except for the architecture keys, which must be
// present: a silently defaulted hidden_size would only surface later as a wall of mis-shaped keys.
#include "text_encoder/clip_text_config.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace psa {

namespace {

using json = nlohmann::json;

json read_config_file(const std::filesystem::path& path)
{
    std::ifstream in(path);
    if (!in)
        throw ConfigError(path_message(path.string(), "cannot open the config file"));
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        throw ConfigError(path_message(path.string(), std::string("not valid JSON: ") + e.what()));
    }
    if (!j.is_object())
        throw ConfigError(path_message(path.string(), "expected a JSON object at the top level"));
    return j;
}

std::string short_dump(const json& v)
{
    auto s = v.dump();
    return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// A JSON object read key by key; every fault names the file and the key.
struct Fields {
    const json& j;
    std::string where;

    const json* find(const char* key) const
    {
        const auto it = j.find(key);
        return it == j.end() || it->is_null() ? nullptr : &*it;
    }
    [[noreturn]] void wrong(const char* key, const char* expected, const json& v) const
    {
        throw ConfigError(path_message(where, std::string("\"") + key + "\": expected " + expected +
                                                  ", got " + v.type_name() + " " + short_dump(v)));
    }
    [[noreturn]] void missing(const char* key) const
    {
        throw ConfigError(path_message(where, std::string("missing required key \"") + key + "\""));
    }
    int64_t integer(const char* key, std::optional<int64_t> fallback) const
    {
        const json* v = find(key);
        if (!v) {
            if (!fallback)
                missing(key);
            return *fallback;
        }
        if (!v->is_number_integer())
            wrong(key, "an integer", *v);
        return v->get<int64_t>();
    }
    double number(const char* key, double fallback) const
    {
        const json* v = find(key);
        if (!v)
            return fallback;
        if (!v->is_number())
            wrong(key, "a number", *v);
        return v->get<double>();
    }
    std::string string(const char* key, const std::string& fallback) const
    {
        const json* v = find(key);
        if (!v)
            return fallback;
        if (!v->is_string())
            wrong(key, "a string", *v);
        return v->get<std::string>();
    }
};

} // namespace

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
    const json j = read_config_file(path);
    const Fields f{j, path.string()};
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
