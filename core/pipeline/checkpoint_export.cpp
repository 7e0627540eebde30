// SPDX-License-Identifier: GPL-3.0-or-later
// Modules -> diffusers-named dicts (named_parameters already are) -> LDM names via the inverse
// key map -> one .safetensors file. Components are converted and cast one at a time, and each
// module is released once its tensors are cast, so converting SD 1.5 to fp16 never holds two fp32
// copies.
#include "pipeline/checkpoint_export.h"

#include "common/error.h"
#include "pipeline/components.h"
#include "tensor_io/key_maps.h"
#include "tensor_io/layers.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

namespace psa {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

c10::ScalarType export_dtype(const std::string& name)
{
    if (name == "fp32" || name == "float32")
        return c10::ScalarType::Float;
    if (name == "fp16" || name == "float16")
        return c10::ScalarType::Half;
    if (name == "bf16" || name == "bfloat16")
        return c10::ScalarType::BFloat16;
    throw InvalidRequest("dtype \"" + name + "\": expected fp32, fp16 or bf16");
}

StateDict module_state(const torch::nn::Module& module)
{
    StateDict dict;
    for (const auto& p : module.named_parameters(true))
        dict[p.key()] = p.value().detach();
    for (const auto& b : module.named_buffers(true))
        dict[b.key()] = b.value().detach();
    return dict;
}

/// Renames one component (the only non-empty dict of `parts`) to LDM names and adds its tensors,
/// cast to `dtype` (no copy when it already is), to `ldm`.
void add_component(StateDict& ldm, const ComponentStateDicts& parts, c10::ScalarType dtype)
{
    for (auto& [name, t] : convert_to_ldm_checkpoint(parts, ldm_layout_from_diffusers_keys(parts)))
        ldm[name] = t.to(dtype).contiguous();
}

CheckpointExport write_checkpoint(const fs::path& out, const StateDict& ldm,
                                  std::map<std::string, std::string> metadata, JobControl& job)
{
    job.report(Stage::Save, 0, 1, out.filename().string());
    metadata.emplace("format", "pt");
    save_safetensors(out, NamedTensors(ldm.begin(), ldm.end()), metadata);
    job.report(Stage::Save, 1, 1, out.filename().string());
    return {Outcome::Completed, static_cast<std::int64_t>(ldm.size()), fs::file_size(out)};
}

constexpr CheckpointExport kCancelled{Outcome::Cancelled, 0, 0};

} // namespace

CheckpointExport export_single_file(const fs::path& model, const fs::path& out,
                                    const std::string& dtype_name, JobControl& job)
{
    const auto dtype = export_dtype(dtype_name);
    LoadModelOptions options;
    options.device = "cpu";
    options.dtype = "fp32";
    auto m = load_model(model, options, job);
    if (!m)
        return kCancelled;
    torch::NoGradGuard no_grad;
    StateDict ldm;
    {
        ComponentStateDicts parts;
        parts.text_encoder = module_state(*m->text_encoder);
        m->text_encoder = nullptr;
        add_component(ldm, parts, dtype);
    }
    {
        ComponentStateDicts parts;
        parts.unet = module_state(*m->unet);
        m->unet = nullptr;
        add_component(ldm, parts, dtype);
    }
    {
        ComponentStateDicts parts;
        parts.vae = module_state(*m->vae);
        m->vae = nullptr;
        add_component(ldm, parts, dtype);
    }
    if (job.stop_requested())
        return kCancelled;
    return write_checkpoint(
        out, ldm,
        {{"source", model.string()},
         {"dtype", dtype_name},
         {kSingleFileConfigKey,
          single_file_config_json(m->unet_config, m->vae_config, m->text_config)}},
        job);
}

CheckpointExport export_random_sd15(const fs::path& out, const std::string& dtype_name,
                                    JobControl& job)
{
    const auto dtype = export_dtype(dtype_name);
    const auto unet_config = UNet2DConditionConfig::sd15();
    const auto vae_config = AutoencoderKLConfig::sd15();
    const auto text_config = CLIPTextConfig::sd15();
    torch::NoGradGuard no_grad;
    ParamInitScope random(ParamInit::Random);
    StateDict ldm;
    // Each module lives only inside its step: its fp32 tensors are freed once cast (fp16/bf16).
    const std::function<void(ComponentStateDicts&)> steps[] = {
        [&](ComponentStateDicts& p) { p.text_encoder = module_state(*CLIPTextModel(text_config)); },
        [&](ComponentStateDicts& p) { p.unet = module_state(*UNet2DConditionModel(unet_config)); },
        [&](ComponentStateDicts& p) { p.vae = module_state(*AutoencoderKL(vae_config)); },
    };
    const char* names[] = {"text encoder", "unet", "vae"};
    for (int i = 0; i < 3; ++i) {
        if (job.stop_requested())
            return kCancelled;
        job.report(Stage::Other, i, 3, names[i]);
        ComponentStateDicts parts;
        steps[i](parts);
        add_component(ldm, parts, dtype);
    }
    job.report(Stage::Other, 3, 3, "done");
    if (job.stop_requested())
        return kCancelled;
    return write_checkpoint(
        out, ldm,
        {{"source", "random SD 1.5 weights (psa convert --random-sd15)"},
         {"dtype", dtype_name},
         {kSingleFileConfigKey, single_file_config_json(unet_config, vae_config, text_config)}},
        job);
}

// ---- hyper-parameters in the metadata ----

std::string single_file_config_json(const UNet2DConditionConfig& unet,
                                    const AutoencoderKLConfig& vae, const CLIPTextConfig& text)
{
    json u = {{"sample_size", unet.sample_size},
              {"norm_num_groups", unet.norm_num_groups},
              {"norm_eps", unet.norm_eps},
              {"attention_head_dim", unet.attention_head_dim},
              {"upcast_attention", unet.upcast_attention},
              {"flip_sin_to_cos", unet.flip_sin_to_cos},
              {"freq_shift", unet.freq_shift},
              {"act_fn", unet.act_fn},
              {"center_input_sample", unet.center_input_sample}};
    if (!unet.num_attention_heads.empty())
        u["num_attention_heads"] = unet.num_attention_heads;
    const json v = {{"sample_size", vae.sample_size},
                    {"norm_num_groups", vae.norm_num_groups},
                    {"scaling_factor", vae.scaling_factor},
                    {"force_upcast", vae.force_upcast}};
    const json t = {{"num_attention_heads", text.num_attention_heads},
                    {"hidden_act", text.hidden_act},
                    {"layer_norm_eps", text.layer_norm_eps},
                    {"eos_token_id", text.eos_token_id}};
    return json{{"unet", u}, {"vae", v}, {"text_encoder", t}}.dump();
}

namespace {

class ConfigReader {
public:
    ConfigReader(const json& root, const char* section, const std::string& what)
        : section_(section), what_(what)
    {
        if (const auto it = root.find(section); it != root.end()) {
            if (!it->is_object())
                fail(it.value(), "an object");
            object_ = &it.value();
        }
    }

    template <typename T> void get(const char* key, T& field) const
    {
        if (!object_)
            return;
        const auto it = object_->find(key);
        if (it == object_->end())
            return;
        const bool fits = std::is_same_v<T, bool>          ? it->is_boolean()
                          : std::is_same_v<T, std::string> ? it->is_string()
                          : std::is_integral_v<T>          ? it->is_number_integer()
                          : std::is_floating_point_v<T>    ? it->is_number()
                                                           : true;
        if (!fits)
            fail(*it, key);
        field = it->get<T>();
    }

    /// An integer, or a list of them (diffusers' "int or one per block").
    void get_ints(const char* key, std::vector<int64_t>& field) const
    {
        if (!object_)
            return;
        const auto it = object_->find(key);
        if (it == object_->end())
            return;
        if (it->is_number_integer()) {
            field = {it->get<int64_t>()};
            return;
        }
        if (!it->is_array())
            fail(*it, key);
        std::vector<int64_t> values;
        for (const auto& e : *it) {
            if (!e.is_number_integer())
                fail(*it, key);
            values.push_back(e.get<int64_t>());
        }
        field = values;
    }

private:
    [[noreturn]] void fail(const json& value, const std::string& key) const
    {
        throw ModelLoadError(path_message(what_, std::string("metadata ") + kSingleFileConfigKey +
                                                     ": " + section_ + "." + key +
                                                     ": unexpected value " + value.dump()));
    }

    const json* object_ = nullptr;
    const char* section_;
    const std::string& what_;
};

} // namespace

void apply_single_file_config_json(const std::string& text, UNet2DConditionConfig& unet,
                                   AutoencoderKLConfig& vae, CLIPTextConfig& clip,
                                   const std::string& what)
{
    json root;
    try {
        root = json::parse(text);
    } catch (const json::exception& e) {
        throw ModelLoadError(path_message(what, std::string("metadata ") + kSingleFileConfigKey +
                                                    " is not valid JSON: " + e.what()));
    }
    if (!root.is_object())
        throw ModelLoadError(path_message(what, std::string("metadata ") + kSingleFileConfigKey +
                                                    " is not a JSON object"));
    const ConfigReader u(root, "unet", what);
    u.get("sample_size", unet.sample_size);
    u.get("norm_num_groups", unet.norm_num_groups);
    u.get("norm_eps", unet.norm_eps);
    u.get_ints("attention_head_dim", unet.attention_head_dim);
    u.get_ints("num_attention_heads", unet.num_attention_heads);
    u.get("upcast_attention", unet.upcast_attention);
    u.get("flip_sin_to_cos", unet.flip_sin_to_cos);
    u.get("freq_shift", unet.freq_shift);
    u.get("act_fn", unet.act_fn);
    u.get("center_input_sample", unet.center_input_sample);
    const ConfigReader v(root, "vae", what);
    v.get("sample_size", vae.sample_size);
    v.get("norm_num_groups", vae.norm_num_groups);
    v.get("scaling_factor", vae.scaling_factor);
    v.get("force_upcast", vae.force_upcast);
    const ConfigReader t(root, "text_encoder", what);
    t.get("num_attention_heads", clip.num_attention_heads);
    t.get("hidden_act", clip.hidden_act);
    t.get("layer_norm_eps", clip.layer_norm_eps);
    t.get("eos_token_id", clip.eos_token_id);
}

} // namespace psa
