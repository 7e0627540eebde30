// SPDX-License-Identifier: GPL-3.0-or-later
// A warm restart of the text encoder + UNet stage from an exported model: the weights are what
// comes back from a sitting elsewhere (an fp16 diffusers folder), and they only mean the same
// thing in this run when the token ids and the layer layout are the same, so both are checked
// before anything is copied.
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_fields.h"
#include "pretrain/stage_model.h"
#include "tensor_io/state_dict.h"
#include "text_encoder/clip_text_model.h"
#include "unet/unet.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace psa {

namespace fs = std::filesystem;

namespace {

// The config without diffusers' bookkeeping keys ("_class_name", "_diffusers_version", ...).
nlohmann::json architecture_of(const fs::path& config)
{
    auto j = read_json_object_file(config);
    for (auto it = j.begin(); it != j.end();)
        it = it.key().rfind('_', 0) == 0 ? j.erase(it) : std::next(it);
    return j;
}

void require_same_config(const fs::path& model_config, const fs::path& run_config)
{
    const auto a = architecture_of(model_config), b = architecture_of(run_config);
    for (const auto& [key, value] : b.items())
        if (!a.contains(key) || a.at(key) != value)
            throw ConfigError(path_message(model_config.string(),
                                           "\"" + key + "\" is " + (a.contains(key) ? a.at(key).dump() : "missing") +
                                               ", the run's " + run_config.string() + " has " + value.dump() +
                                               ": --init-from needs a model of the run's architecture"));
}

} // namespace

void load_initial_weights(const fs::path& model_dir, const fs::path& run_dir, CLIPTextModel& text_encoder,
                          UNet2DConditionModel& unet)
{
    for (const char* file : {"vocab.json", "merges.txt"}) {
        const auto theirs = model_dir / "tokenizer" / file, ours = run_dir / "tokenizer" / file;
        if (read_file_text(theirs) != read_file_text(ours))
            throw ConfigError(path_message(theirs.string(), std::string("differs from the run's ") + ours.string() +
                                                                ": the text encoder's token ids would not match "
                                                                "(copy the model's tokenizer/ into the run folder "
                                                                "before its vocab stage)"));
    }
    require_same_config(model_dir / "text_encoder" / "config.json", run_dir / "arch" / "text_encoder" / "config.json");
    require_same_config(model_dir / "unet" / "config.json", run_dir / "arch" / "unet" / "config.json");

    torch::NoGradGuard no_grad;
    const auto text_file = model_dir / "text_encoder" / "model.safetensors";
    load_text_encoder_weights(text_encoder, load_state_dict(text_file), text_file.string());
    const auto unet_file = model_dir / "unet" / "diffusion_pytorch_model.safetensors";
    load_into(*unet, load_state_dict(unet_file), unet_file.string());
}

} // namespace psa
