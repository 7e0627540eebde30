// SPDX-License-Identifier: GPL-3.0-or-later
// Text-to-image: the StableDiffusionPipeline flow (encode prompts, denoise with guidance, decode
// with 1/scaling_factor, map [-1, 1] to [0, 1]) over our modules.
#include "pipeline/text2image.h"

#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/denoise.h"
#include "pipeline/prompt_encoding.h"
#include "pipeline/user_conditioning.h"
#include "adapter/adapter_io.h"
#include "schedulers/scheduler.h"
#include "tensor_io/image_tensor.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

namespace psa {

void validate_request(const GenerationRequest& r, int latent_factor)
{
    if (r.steps < 1)
        throw InvalidRequest("steps: " + std::to_string(r.steps) + " is not a positive number of steps");
    if (r.steps > 1000)
        throw InvalidRequest("steps: " + std::to_string(r.steps) + " is more than 1000");
    if (r.batch < 1 || r.batch > 64)
        throw InvalidRequest("batch: " + std::to_string(r.batch) + " is outside 1-64");
    if (r.guidance_scale < 0)
        throw InvalidRequest("guidance: a negative scale is not meaningful");
    for (const auto& [name, v] : {std::pair<const char*, int>{"width", r.width}, {"height", r.height}}) {
        if (v < 0 || v % latent_factor != 0)
            throw InvalidRequest(std::string(name) + ": " + std::to_string(v) + " is not a multiple of " +
                                 std::to_string(latent_factor));
        if (v > 4096)
            throw InvalidRequest(std::string(name) + ": " + std::to_string(v) + " is larger than 4096");
    }
    const auto names = scheduler_names();
    if (std::find(names.begin(), names.end(), r.sampler) == names.end()) {
        std::string list;
        for (const auto& n : names)
            list += (list.empty() ? "" : ", ") + n;
        throw InvalidRequest("sampler: unknown \"" + r.sampler + "\" (choose one of " + list + ")");
    }
}

int ModelComponents::latent_factor() const
{
    return 1 << std::max<int>(0, static_cast<int>(vae_config.block_out_channels.size()) - 1);
}

int ModelComponents::default_image_size() const
{
    return static_cast<int>(unet_config.sample_size) * latent_factor();
}

struct Text2Image::Impl {
    std::shared_ptr<ModelComponents> model;
    SafetyAdapter adapter{nullptr};
    std::string adapter_name;
};

Text2Image::Text2Image(std::shared_ptr<ModelComponents> model) : impl_(std::make_unique<Impl>())
{
    if (!model)
        throw InvalidRequest("no model loaded");
    impl_->model = std::move(model);
}

Text2Image::~Text2Image()
{
    if (impl_ && impl_->model && impl_->model->unet)
        impl_->model->unet->set_attention_hook(nullptr);
}

const ModelComponents& Text2Image::model() const { return *impl_->model; }

void Text2Image::load_adapter(const std::filesystem::path& path)
{
    torch::NoGradGuard no_grad;
    auto& m = *impl_->model;
    auto adapter = psa::load_adapter(path, m.unet->cross_attention_layers());
    adapter->to(m.device, m.dtype);
    adapter->eval();
    impl_->adapter = adapter;
    impl_->adapter_name = path.filename().string();
}

void Text2Image::clear_adapter()
{
    impl_->model->unet->set_attention_hook(nullptr);
    impl_->adapter = SafetyAdapter(nullptr);
    impl_->adapter_name.clear();
}

bool Text2Image::has_adapter() const { return static_cast<bool>(impl_->adapter); }
std::string Text2Image::adapter_name() const { return impl_->adapter_name; }

std::vector<std::string> Text2Image::adapter_categories() const
{
    std::vector<std::string> out;
    const auto cats = impl_->adapter ? psa::adapter_categories(impl_->adapter->config()) : CategorySet::builtin();
    for (const auto& c : cats.all())
        out.push_back(c.id);
    return out;
}

GenerationResult Text2Image::generate(const GenerationRequest& request, JobControl& job)
{
    auto& m = *impl_->model;
    validate_request(request, m.latent_factor());
    const auto conditions = request.conditions.empty() ? std::vector<GenerationCondition>{GenerationCondition::plain()}
                                                       : request.conditions;
    auto& adapter = impl_->adapter;
    for (const auto& c : conditions) {
        if (!c.adapter_off() && !adapter)
            throw InvalidRequest("condition \"" + c.label + "\" needs a safety adapter; load one (--adapter FILE)");
        if (c.adapter_scale < 0 || c.adapter_scale > kMaxAdapterScale)
            throw InvalidRequest("adapter scale " + std::to_string(c.adapter_scale) + " is outside 0-10");
    }
    const auto start = std::chrono::steady_clock::now();
    c10::InferenceMode inference;
    GenerationResult result;

    const int width = request.width > 0 ? request.width : m.default_image_size();
    const int height = request.height > 0 ? request.height : m.default_image_size();
    const int64_t batch = request.batch;
    const bool guided = request.guidance_scale > 1.0;

    job.report(Stage::Encode, 0, 1);
    const auto text_cond = encode_prompts(m, {request.prompt}, request.clip_skip, &result.warnings);
    const auto text_uncond = guided ? encode_prompts(m, {request.negative_prompt}, request.clip_skip, &result.warnings)
                                    : at::Tensor();
    // User tokens per condition ([1, T, D]); adapter-off conditions get the null tokens and a zero scale.
    std::vector<at::Tensor> user_tokens(conditions.size());
    at::Tensor null_tokens;
    if (adapter) {
        null_tokens = adapter->null_user_tokens(1);
        for (size_t c = 0; c < conditions.size(); ++c)
            user_tokens[c] = conditions[c].adapter_off()
                                 ? null_tokens
                                 : adapter->user_tokens(profile_embedding(adapter->config(), *conditions[c].profile)
                                                            .to(m.device, m.dtype)
                                                            .unsqueeze(0));
    }
    job.report(Stage::Encode, 1, 1);

    // Seeding: image b draws its initial noise, then any per-step noise, from its own CPU
    // generator seeded with seed + b, in float32, before moving to the device; every condition
    // starts from the same noise.
    const int64_t channels = m.unet_config.in_channels;
    const int64_t h = height / m.latent_factor(), w = width / m.latent_factor();
    const auto image_generator = [&](int64_t b, at::Tensor* noise) {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(request.seed + static_cast<uint64_t>(b));
        auto n = torch::randn({1, channels, h, w}, gen, torch::TensorOptions().dtype(torch::kFloat));
        if (noise)
            *noise = n;
        return gen;
    };

    const int64_t n_cond = static_cast<int64_t>(conditions.size());
    const int64_t per_pass = request.max_rows_per_pass > 0
                                 ? std::max<int64_t>(1, request.max_rows_per_pass / batch)
                                 : n_cond;
    auto scheduler = make_scheduler(request.sampler, m.scheduler_config);
    for (int64_t first = 0; first < n_cond; first += per_pass) {
        const int64_t last = std::min(n_cond, first + per_pass);
        const int64_t rows = (last - first) * batch;
        DenoiseInputs in;
        std::vector<at::Tensor> noise, extra_cond, scales;
        bool any_adapter = false;
        for (int64_t c = first; c < last; ++c) {
            any_adapter = any_adapter || !conditions[static_cast<size_t>(c)].adapter_off();
            for (int64_t b = 0; b < batch; ++b) {
                at::Tensor n;
                in.generators.push_back(image_generator(b, &n));
                noise.push_back(n);
                if (adapter) {
                    extra_cond.push_back(user_tokens[static_cast<size_t>(c)]);
                    const auto& cond = conditions[static_cast<size_t>(c)];
                    scales.push_back(torch::tensor({cond.adapter_off() ? 0.0f : static_cast<float>(cond.adapter_scale)}));
                }
            }
        }
        in.noise = torch::cat(noise).to(m.device, m.dtype);
        in.text_cond = text_cond.expand({rows, -1, -1});
        if (guided)
            in.text_uncond = text_uncond.expand({rows, -1, -1});
        in.guidance_scale = request.guidance_scale;
        if (any_adapter) {
            in.extra_cond = torch::cat(extra_cond);
            if (guided)
                in.extra_uncond = null_tokens.expand({rows, -1, -1});
            auto row_scales = torch::cat(scales);
            adapter->set_row_scales(guided ? torch::cat({row_scales, row_scales}) : row_scales);
            m.unet->set_attention_hook(adapter.ptr());
        } else {
            // Level 0 alone runs the plain UNet: bit-identical to generation without an adapter.
            m.unet->set_attention_hook(nullptr);
        }

        scheduler->set_timesteps(request.steps);
        std::function<void(int, const at::Tensor&)> on_step;
        if (request.on_preview && request.preview_every > 0) {
            on_step = [&](int step, const at::Tensor& latents) {
                if (step % request.preview_every == 0 && step < scheduler->num_model_calls())
                    request.on_preview(step, tensor_to_images(latent_preview(latents)));
            };
        }
        at::Tensor latents;
        const auto outcome = denoise(m.unet, *scheduler, in, job, latents, nullptr, on_step);
        m.unet->set_attention_hook(nullptr);
        if (outcome == Outcome::Cancelled) {
            result.outcome = Outcome::Cancelled;
            result.images.clear();
            return result;
        }
        result.completed_steps += scheduler->num_model_calls();

        job.report(Stage::Decode, 0, static_cast<int>(rows));
        for (int64_t r = 0; r < rows; ++r) {
            if (job.stop_requested()) {
                result.outcome = Outcome::Cancelled;
                result.images.clear();
                return result;
            }
            const int64_t c = first + r / batch, b = r % batch;
            const auto decoded = m.vae->decode(latents.slice(0, r, r + 1) / m.vae_config.scaling_factor);
            const auto image01 = (decoded.to(torch::kFloat) / 2.0 + 0.5).clamp(0, 1);
            GeneratedImage gi{tensor_to_image(image01[0]), request.seed + static_cast<uint64_t>(b),
                              static_cast<int>(b), static_cast<int>(c), conditions[static_cast<size_t>(c)].label};
            if (request.on_image)
                request.on_image(gi.condition_index, gi.batch_index, gi.image);
            result.images.push_back(std::move(gi));
            job.report(Stage::Decode, static_cast<int>(r + 1), static_cast<int>(rows));
        }
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

} // namespace psa
