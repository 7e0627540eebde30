// SPDX-License-Identifier: GPL-3.0-or-later
// Original single-file checkpoints (LDM key names): detect the model kind from the header alone,
// rename to diffusers keys (views, no copies), then strictly load as for a diffusers folder. The
// configs are SD 1.5's, adjusted where the weights say otherwise (input channels, text width).
#include "common/error.h"
#include "pipeline/components.h"
#include "tensor_io/key_maps.h"
#include "tensor_io/layers.h"
#include "tensor_io/model_detect.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdlib>

namespace psa {

namespace fs = std::filesystem;

namespace {

fs::path find_tokenizer(const fs::path& file, const LoadModelOptions& options)
{
    std::vector<fs::path> candidates;
    if (!options.tokenizer_dir.empty())
        candidates.push_back(options.tokenizer_dir);
    candidates.push_back(file.parent_path() / "tokenizer");
    if (const char* env = std::getenv("PSA_TOKENIZER_DIR"); env && *env)
        candidates.push_back(env);
    for (const auto& c : candidates)
        if (fs::exists(c / "vocab.json") && fs::exists(c / "merges.txt"))
            return c;
    throw ModelLoadError(path_message(file.string(),
                                      "a single-file checkpoint carries no tokenizer; put a diffusers "
                                      "tokenizer/ folder (vocab.json, merges.txt) next to it, or name one "
                                      "with --tokenizer DIR or PSA_TOKENIZER_DIR"));
}

} // namespace

std::shared_ptr<ModelComponents> load_single_file(const fs::path& file, const LoadModelOptions& options,
                                                  JobControl& job, std::shared_ptr<ModelComponents> m)
{
    const std::string what = file.string();
    job.report(Stage::Load, 0, 4, "header");
    const auto st = SafetensorsFile::open(file);
    const auto kind = detect_model_kind(st.tensors());
    if (kind != ModelKind::SD1)
        throw ModelLoadError(path_message(what, unsupported_model_hint(kind)));
    m->name = file.stem().string();
    m->kind = model_kind_name(kind);

    StateDict ldm;
    for (const auto& t : st.tensors())
        ldm[t.name] = st.tensor(t.name);
    auto parts = convert_ldm_checkpoint(ldm, what);
    ldm.clear();
    if (!parts.unknown.empty()) {
        std::string msg = what + ": " + std::to_string(parts.unknown.size()) +
                          " tensors match no Stable Diffusion 1.x name";
        for (size_t i = 0; i < parts.unknown.size() && i < 10; ++i)
            msg += "\n  unexpected: " + parts.unknown[i];
        throw ModelLoadError(msg);
    }
    spdlog::debug("{}: ignored {} known extra tensors (EMA, schedule buffers, position ids)", what,
                  parts.ignored.size());

    m->tokenizer = std::make_shared<CLIPTokenizer>(CLIPTokenizer::from_dir(find_tokenizer(file, options)));
    m->scheduler_config = SchedulerConfig::sd15();

    job.report(Stage::Load, 1, 4, "text encoder");
    m->text_config = CLIPTextConfig::sd15();
    if (const auto it = parts.text_encoder.find("text_model.final_layer_norm.weight"); it != parts.text_encoder.end())
        m->text_config.hidden_size = it->second.size(0);
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->text_encoder = CLIPTextModel(m->text_config);
    }
    load_text_encoder_weights(m->text_encoder, parts.text_encoder, what + " (text encoder)");
    parts.text_encoder.clear();
    if (job.stop_requested())
        return nullptr;

    job.report(Stage::Load, 2, 4, "unet");
    m->unet_config = UNet2DConditionConfig::sd15();
    if (const auto it = parts.unet.find("conv_in.weight"); it != parts.unet.end())
        m->unet_config.in_channels = it->second.size(1);
    m->unet_config.cross_attention_dim = {m->text_config.hidden_size};
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->unet = UNet2DConditionModel(m->unet_config);
    }
    load_into(*m->unet, parts.unet, what + " (unet)");
    parts.unet.clear();
    if (job.stop_requested())
        return nullptr;

    job.report(Stage::Load, 3, 4, "vae");
    m->vae_config = AutoencoderKLConfig::sd15();
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->vae = AutoencoderKL(m->vae_config);
    }
    load_vae_weights(m->vae, parts.vae, what + " (vae)");
    parts.vae.clear();

    finalize_components(*m);
    job.report(Stage::Load, 4, 4, "done");
    return m;
}

} // namespace psa
