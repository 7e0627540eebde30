// SPDX-License-Identifier: GPL-3.0-or-later
// Loading a model: the diffusers folder layout, or an original single-file checkpoint renamed by
// tensor_io/key_maps. Modules are built uninitialised (their weights follow) and strictly loaded.
#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/model_loading.h"
#include "tensor_io/device.h"
#include "tensor_io/layers.h"
#include "tensor_io/state_dict.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

namespace psa {

namespace fs = std::filesystem;

namespace {

// The weight files of one diffusers component folder: one file, or the shards named by an index.
std::vector<fs::path> component_weights(const fs::path& dir)
{
    for (const char* name : {"diffusion_pytorch_model.safetensors", "model.safetensors",
                             "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors"}) {
        if (fs::exists(dir / name))
            return {dir / name};
    }
    std::vector<fs::path> shards;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".safetensors")
            shards.push_back(e.path());
    std::sort(shards.begin(), shards.end());
    if (!shards.empty())
        return shards;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".bin" || e.path().extension() == ".ckpt")
            throw ModelLoadError(path_message(e.path().string(),
                                              "pickled PyTorch weights are not loaded (they can run code); "
                                              "convert the model to .safetensors"));
    throw ModelLoadError(path_message(dir.string(), "no .safetensors weights in this folder"));
}

std::string relative_name(const fs::path& root, const fs::path& p)
{
    std::error_code ec;
    const auto rel = fs::relative(p, root.parent_path(), ec);
    return ec ? p.string() : rel.string();
}

template <typename Module>
void load_component(Module& module, const fs::path& root, const fs::path& dir, const LoadOptions& opts = {})
{
    const auto files = component_weights(dir);
    std::string what = relative_name(root, files.front());
    if (files.size() > 1)
        what += " (+" + std::to_string(files.size() - 1) + " shards)";
    load_into(*module, load_state_dict(files), what, opts);
}

} // namespace

void finalize_components(ModelComponents& m)
{
    m.text_encoder->to(m.device, m.dtype);
    m.unet->to(m.device, m.dtype);
    m.vae->to(m.device, m.dtype);
    m.text_encoder->eval();
    m.unet->eval();
    m.vae->eval();
}

namespace {

bool ignore_text_extras(const std::string& name) { return name.find("position_ids") != std::string::npos; }

std::shared_ptr<ModelComponents> load_diffusers_folder(const fs::path& root, JobControl& job,
                                                       std::shared_ptr<ModelComponents> m)
{
    for (const char* sub : {"unet", "vae", "text_encoder", "tokenizer"})
        if (!fs::is_directory(root / sub))
            throw ModelLoadError(path_message(root.string(), std::string("missing subfolder ") + sub +
                                                                 "/ (expected the diffusers layout: "
                                                                 "unet/, vae/, text_encoder/, tokenizer/, scheduler/)"));
    m->name = root.filename().string();
    if (m->name.empty())
        m->name = root.parent_path().filename().string();

    job.report(Stage::Load, 0, 4, "tokenizer");
    m->tokenizer = std::make_shared<CLIPTokenizer>(CLIPTokenizer::from_dir(root / "tokenizer"));
    const auto scheduler_json = root / "scheduler" / "scheduler_config.json";
    m->scheduler_config = fs::exists(scheduler_json) ? SchedulerConfig::from_json(scheduler_json)
                                                     : SchedulerConfig::sd15();
    if (job.stop_requested())
        return nullptr;

    job.report(Stage::Load, 1, 4, "text encoder");
    m->text_config = CLIPTextConfig::from_json(root / "text_encoder" / "config.json");
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->text_encoder = CLIPTextModel(m->text_config);
    }
    LoadOptions text_opts;
    text_opts.ignore_unexpected = ignore_text_extras;
    load_component(m->text_encoder, root, root / "text_encoder", text_opts);
    if (job.stop_requested())
        return nullptr;

    job.report(Stage::Load, 2, 4, "unet");
    m->unet_config = UNet2DConditionConfig::from_json(root / "unet" / "config.json");
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->unet = UNet2DConditionModel(m->unet_config);
    }
    load_component(m->unet, root, root / "unet");
    if (job.stop_requested())
        return nullptr;

    job.report(Stage::Load, 3, 4, "vae");
    m->vae_config = AutoencoderKLConfig::from_json(root / "vae" / "config.json");
    {
        ParamInitScope uninitialised(ParamInit::Empty);
        m->vae = AutoencoderKL(m->vae_config);
    }
    load_component(m->vae, root, root / "vae");
    finalize_components(*m);
    job.report(Stage::Load, 4, 4, "done");
    return m;
}

} // namespace

std::shared_ptr<ModelComponents> load_single_file(const fs::path& file, const LoadModelOptions& options,
                                                  JobControl& job, std::shared_ptr<ModelComponents> m);

std::shared_ptr<ModelComponents> load_model(const fs::path& path, const LoadModelOptions& options,
                                            JobControl& job)
{
    torch::NoGradGuard no_grad;
    auto m = std::make_shared<ModelComponents>();
    m->source = path;
    m->device = choose_device(options.device);
    m->dtype = choose_dtype(m->device, options.dtype);
    if (!fs::exists(path))
        throw ModelLoadError(path_message(path.string(), "no such file or folder"));
    if (fs::is_directory(path))
        return load_diffusers_folder(path, job, m);
    if (path.extension() != ".safetensors")
        throw ModelLoadError(path_message(path.string(), "not a model: expected a diffusers folder or a "
                                                         "single-file .safetensors checkpoint"));
    return load_single_file(path, options, job, m);
}

ModelSummary summarize_model(const ModelComponents& m)
{
    ModelSummary s;
    s.name = m.name;
    s.kind = m.kind;
    s.device = m.device.str();
    s.dtype = dtype_label(m.dtype);
    s.parameters = parameter_count(*m.unet) + parameter_count(*m.vae) + parameter_count(*m.text_encoder);
    s.default_image_size = m.default_image_size();
    s.latent_factor = m.latent_factor();
    return s;
}

} // namespace psa
