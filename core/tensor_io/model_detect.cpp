// SPDX-License-Identifier: GPL-3.0-or-later
// The signals are the ones diffusers' single_file_utils.infer_diffusers_model_type uses: the
// conditioner/text-encoder prefix, the cross-attention width and the UNet's input channels.
#include "tensor_io/model_detect.h"

#include "common/error.h"
#include "tensor_io/safetensors.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <string_view>

namespace psa {

namespace {

constexpr std::int64_t kCLIPWidth = 768;         // SD 1.x: CLIP ViT-L/14
constexpr std::int64_t kOpenCLIPHWidth = 1024;   // SD 2.x: OpenCLIP ViT-H/14
constexpr std::int64_t kSDXLContextWidth = 2048; // SDXL: CLIP-L + OpenCLIP-G concatenated
constexpr std::int64_t kSDXLAddedInputs = 2816;  // SDXL base: pooled 1280 + 6 * 256 time ids
constexpr std::int64_t kInpaintingChannels = 9;  // latents 4 + mask 1 + masked-image latents 4

struct Evidence {
    bool sgm_conditioner = false, open_clip = false, clip = false;
    std::int64_t context_width = 0, in_channels = 0, added_inputs = 0;
};

ModelKind decide(const Evidence& e)
{
    if (e.sgm_conditioner || e.context_width == kSDXLContextWidth ||
        e.added_inputs == kSDXLAddedInputs)
        return ModelKind::SDXL;
    if (e.open_clip || e.context_width == kOpenCLIPHWidth)
        return ModelKind::SD2;
    if (e.clip || e.context_width == kCLIPWidth) {
        if (e.in_channels == kInpaintingChannels)
            return ModelKind::SD1Inpainting;
        if (e.in_channels == 0 || e.in_channels == 4)
            return ModelKind::SD1;
    }
    return ModelKind::Unknown;
}

void observe(Evidence& e, std::string_view name, const std::vector<std::int64_t>& shape)
{
    if (name.starts_with("conditioner.embedders."))
        e.sgm_conditioner = true;
    else if (name.starts_with("cond_stage_model.model."))
        e.open_clip = true;
    else if (name.starts_with("cond_stage_model.transformer."))
        e.clip = true;
    const bool ldm = name.starts_with("model.diffusion_model.");
    if (ldm)
        name.remove_prefix(std::string_view("model.diffusion_model.").size());
    if (e.context_width == 0 && name.ends_with("attn2.to_k.weight") && shape.size() == 2)
        e.context_width = shape[1];
    if ((name == (ldm ? "input_blocks.0.0.weight" : "conv_in.weight")) && shape.size() == 4)
        e.in_channels = shape[1];
    if ((name == (ldm ? "label_emb.0.0.weight" : "add_embedding.linear_1.weight")) &&
        shape.size() == 2)
        e.added_inputs = shape[1];
}

} // namespace

ModelKind detect_model_kind(const NamesAndShapes& names_and_shapes)
{
    Evidence e;
    for (const auto& [name, shape] : names_and_shapes)
        observe(e, name, shape);
    return decide(e);
}

ModelKind detect_model_kind(const std::vector<TensorInfo>& tensors)
{
    Evidence e;
    for (const auto& info : tensors)
        observe(e, info.name, info.shape);
    return decide(e);
}

ModelKind detect_model_kind_from_unet_config(const std::filesystem::path& config_json)
{
    std::ifstream in(config_json);
    if (!in)
        throw ConfigError(path_message(config_json.string(), "cannot be read"));
    Evidence e;
    try {
        const auto config = nlohmann::json::parse(in);
        const auto context = config.value("cross_attention_dim", nlohmann::json());
        if (context.is_number_integer())
            e.context_width = context.get<std::int64_t>();
        else if (context.is_array() && !context.empty() && context.front().is_number_integer())
            e.context_width = context.front().get<std::int64_t>();
        e.in_channels = config.value("in_channels", std::int64_t{4});
        e.sgm_conditioner = config.value("addition_embed_type", nlohmann::json()) == "text_time";
    } catch (const nlohmann::json::exception& error) {
        throw ConfigError(path_message(config_json.string(),
                                       std::string("invalid UNet config: ") + error.what()));
    }
    return decide(e);
}

std::string model_kind_name(ModelKind kind)
{
    switch (kind) {
    case ModelKind::SD1:
        return "SD 1.x";
    case ModelKind::SD2:
        return "SD 2.x";
    case ModelKind::SDXL:
        return "SDXL";
    case ModelKind::SD1Inpainting:
        return "SD 1.x inpainting";
    case ModelKind::Unknown:
        break;
    }
    return "unknown";
}

std::string unsupported_model_hint(ModelKind kind)
{
    switch (kind) {
    case ModelKind::SD1:
        return {};
    case ModelKind::SD2:
        return "this is an SD 2.x checkpoint (OpenCLIP text encoder); SD 2.x support is planned, "
               "choose an SD 1.x model";
    case ModelKind::SDXL:
        return "this is an SDXL checkpoint; SDXL support is planned, choose an SD 1.x model";
    case ModelKind::SD1Inpainting:
        return "this is an SD 1.x inpainting checkpoint (9 UNet input channels); choose a "
               "text-to-image SD 1.x model";
    case ModelKind::Unknown:
        break;
    }
    return "this is not recognised as a Stable Diffusion checkpoint (no SD 1.x UNet or "
           "text-encoder "
           "keys); choose an SD 1.x model";
}

} // namespace psa
