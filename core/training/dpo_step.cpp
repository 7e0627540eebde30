// SPDX-License-Identifier: GPL-3.0-or-later
// One DPO micro-batch: drawing pairs and augmentations, cached text and VAE posteriors, the shared
// noise and timestep, and the policy/reference forward passes (PSAlign train.py's inner loop).
#include "pipeline/components.h"
#include "pipeline/prompt_encoding.h"
#include "tensor_io/image_tensor.h"
#include "training/anchor_loss.h"
#include "training/ban_mixing.h"
#include "training/image_preprocess.h"
#include "training/routing_loss.h"
#include "training/shuffled_order.h"
#include "training/trainer_impl.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

namespace psa {

namespace fs = std::filesystem;

// ---- autocast across LibTorch versions ----

namespace {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool cuda_autocast_enabled() { return at::autocast::is_autocast_enabled(at::kCUDA); }
c10::ScalarType cuda_autocast_dtype() { return at::autocast::get_autocast_dtype(at::kCUDA); }
void set_cuda_autocast(bool on, c10::ScalarType dtype)
{
    at::autocast::set_autocast_enabled(at::kCUDA, on);
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
}
#else
bool cuda_autocast_enabled() { return at::autocast::is_enabled(); }
c10::ScalarType cuda_autocast_dtype() { return at::autocast::get_autocast_gpu_dtype(); }
void set_cuda_autocast(bool on, c10::ScalarType dtype)
{
    at::autocast::set_enabled(on);
    at::autocast::set_autocast_gpu_dtype(dtype);
}
#endif

} // namespace

AutocastScope::AutocastScope(bool enabled, c10::ScalarType dtype) : enabled_(enabled)
{
    if (!enabled_)
        return;
    previous_ = cuda_autocast_enabled();
    previous_dtype_ = cuda_autocast_dtype();
    set_cuda_autocast(true, dtype);
}

AutocastScope::~AutocastScope()
{
    if (!enabled_)
        return;
    set_cuda_autocast(previous_, previous_dtype_);
    if (!previous_)
        at::autocast::clear_cache();
}

// ---- data ----

double DpoTrainer::Impl::uniform01() { return psa::uniform01(rng); }

int64_t DpoTrainer::Impl::next_pair_index()
{
    return next_shuffled_index(rng, order, order_pos, static_cast<int64_t>(data->size()));
}

at::Tensor DpoTrainer::Impl::text_embedding(const std::string& caption)
{
    if (const auto it = text_cache.find(caption); it != text_cache.end())
        return it->second;
    torch::NoGradGuard no_grad;
    auto e = encode_prompts(*model, {caption}, 0).to(torch::kFloat); // [1, 77, D]
    text_cache.emplace(caption, e);
    return e;
}

std::pair<at::Tensor, at::Tensor> DpoTrainer::Impl::posterior(const fs::path& image, bool flip)
{
    const std::string key = image.string() + (flip ? "|flip" : "|");
    if (const auto it = latent_cache.find(key); it != latent_cache.end())
        return it->second;
    torch::NoGradGuard no_grad;
    auto& m = *model;
    const auto pixels = preprocess_training_image(load_image(image), resolution, flip)
                            .unsqueeze(0)
                            .to(device, autocast ? torch::kFloat : m.dtype); // [1, 3, R, R]
    AutocastScope ac(autocast, autocast_dtype);
    const auto post = m.vae->encode(pixels);
    std::pair<at::Tensor, at::Tensor> out{post.mean.to(torch::kFloat), post.std.to(torch::kFloat)};
    if (config.cache_latents)
        latent_cache.emplace(key, out);
    return out;
}

DpoMicroBatch DpoTrainer::Impl::make_micro_batch(const std::vector<int64_t>& pairs, const std::vector<bool>& flips,
                                                 const std::vector<bool>& drop_caption,
                                                 const std::vector<bool>& drop_user, at::Generator& gen)
{
    const auto b = static_cast<int64_t>(pairs.size());
    std::vector<at::Tensor> mean, std_, text, users;
    std::vector<int64_t> null_user;
    for (int64_t half = 0; half < 2; ++half) {
        for (int64_t i = 0; i < b; ++i) {
            const auto& p = data->pair(static_cast<size_t>(pairs[static_cast<size_t>(i)]));
            const auto post = posterior(half == 0 ? p.chosen : p.rejected, flips[static_cast<size_t>(i)]);
            mean.push_back(post.first);
            std_.push_back(post.second);
        }
    }
    for (int64_t i = 0; i < b; ++i) {
        const auto& p = data->pair(static_cast<size_t>(pairs[static_cast<size_t>(i)]));
        text.push_back(text_embedding(drop_caption[static_cast<size_t>(i)] ? std::string() : p.caption));
        users.push_back(user_table[user_row.at(p.user_id)]);
        null_user.push_back(drop_user[static_cast<size_t>(i)] ? 1 : 0);
    }
    if (config.ban_mixing > 0) {
        // Drawn only when on, so that runs without it keep their draw order.
        const auto mix = torch::rand({b}, gen);
        const auto donors = torch::randint(0, user_table.size(0), {b}, gen, torch::kLong);
        const auto categories = static_cast<int64_t>(data->categories().size());
        for (int64_t i = 0; i < b; ++i) {
            if (mix[i].item<double>() >= config.ban_mixing)
                continue;
            const auto& p = data->pair(static_cast<size_t>(pairs[static_cast<size_t>(i)]));
            const auto own_category = data->categories().index_of(p.category);
            users[static_cast<size_t>(i)] = mix_other_bans(users[static_cast<size_t>(i)],
                                                           user_table[donors[i].item<int64_t>()], own_category,
                                                           categories);
        }
    }
    DpoMicroBatch mb;
    const auto m = torch::cat(mean), s = torch::cat(std_); // [2B, C, h, w]
    // Draw order is part of the run's definition: posterior samples, noise, timesteps.
    const auto eps = torch::randn(m.sizes(), gen, torch::kFloat).to(device);
    mb.latents = (m + s * eps) * model->vae->scaling_factor();
    if (config.anchor_weight > 0 || config.counterpart_weight > 0 || config.routing_weight > 0) {
        const auto means = m.chunk(2); // [B, C, h, w] each: the chosen, then the rejected images
        mb.agreement = pair_agreement_mask(means[0], means[1]);
    }
    // [B] 0/1 per pair: whether its user bans the pair's category (`bans`) or allows it.
    const auto rows_where_user = [&](bool bans) {
        std::vector<float> rows;
        for (int64_t i = 0; i < b; ++i) {
            const auto& p = data->pair(static_cast<size_t>(pairs[static_cast<size_t>(i)]));
            rows.push_back(p.user_bans_category == bans ? 1.0f : 0.0f);
        }
        return torch::tensor(rows, torch::kFloat).to(device);
    };
    if (config.anchor_on_allowed_pairs())
        mb.anchor_whole_rows = rows_where_user(false); // held to the reference over the whole image
    if (config.counterpart_on_banned_pairs())
        mb.counterpart_rows = rows_where_user(true); // there the chosen image is the safe one
    if (config.routing_weight > 0) {
        // Per-category tokens are in the data's category order (the adapter is built from it).
        std::vector<int64_t> tokens;
        for (int64_t i = 0; i < b; ++i)
            tokens.push_back(data->categories().index_of(data->pair(static_cast<size_t>(pairs[static_cast<size_t>(i)])).category));
        mb.routing_token = torch::tensor(tokens, torch::kLong).to(device);
    }
    const auto noise = torch::randn({b, m.size(1), m.size(2), m.size(3)}, gen, torch::kFloat).to(device);
    mb.noise = torch::cat({noise, noise});
    const auto t = torch::randint(0, alphas_cumprod.size(0), {b}, gen, torch::kLong);
    mb.timesteps = torch::cat({t, t}).to(device);
    const auto txt = torch::cat(text);
    mb.text = torch::cat({txt, txt});
    mb.user_embeds = torch::stack(users);
    mb.null_user = torch::tensor(null_user, torch::kLong).to(torch::kBool).to(device);
    return mb;
}

// ---- forward ----

DpoLossTerms DpoTrainer::Impl::forward_loss(const DpoMicroBatch& mb)
{
    auto& unet = model->unet;
    const auto acp = alphas_cumprod.index_select(0, mb.timesteps.cpu()).to(device).view({-1, 1, 1, 1});
    const auto sqrt_acp = acp.sqrt(), sqrt_one_minus = (1.0 - acp).sqrt();
    const auto noisy = sqrt_acp * mb.latents + sqrt_one_minus * mb.noise; // [2B, C, h, w]
    const auto target = model->scheduler_config.prediction_type == "v_prediction"
                            ? sqrt_acp * mb.noise - sqrt_one_minus * mb.latents
                            : mb.noise;
    const auto input = autocast ? noisy : noisy.to(model->dtype);
    const auto text = autocast ? mb.text : mb.text.to(model->dtype);

    at::Tensor ref_pred;
    {
        // The reference: the frozen UNet itself (adapter hook off), so no second copy is held.
        torch::NoGradGuard no_grad;
        AutocastScope ac(autocast, autocast_dtype);
        unet->set_attention_hook(nullptr);
        ref_pred = unet->forward(input, mb.timesteps, text).to(torch::kFloat);
    }
    at::Tensor model_pred;
    std::vector<at::Tensor> routing; // per layer [2B, heads, N, T] (routing term only)
    {
        AutocastScope ac(autocast, autocast_dtype);
        auto tokens = adapter->user_tokens(mb.user_embeds); // [B, T, D]
        if (mb.null_user.any().item<bool>()) {
            const auto null = adapter->null_user_tokens(tokens.size(0));
            tokens = torch::where(mb.null_user.view({-1, 1, 1}), null, tokens);
        }
        adapter->set_scale(1.0);
        unet->set_attention_hook(adapter.ptr());
        if (mb.routing_token.defined())
            adapter->record_routing(&routing);
        try {
            model_pred = unet->forward(input, mb.timesteps, text, torch::cat({tokens, tokens})).to(torch::kFloat);
        } catch (...) {
            adapter->record_routing(nullptr);
            unet->set_attention_hook(nullptr);
            throw;
        }
        adapter->record_routing(nullptr);
        unet->set_attention_hook(nullptr);
    }
    auto terms = dpo_loss(model_pred, ref_pred, target, config.beta_dpo, config.sft_weight);
    at::Tensor routing_ce;
    if (mb.routing_token.defined()) {
        // Null-user rows carry no category's tokens, so their routing is not asked for.
        const auto counted = mb.null_user.logical_not().to(torch::kFloat);
        // With a sink token (the last, after the categories) the cells where the pair agrees go
        // there, so that they need not read a token that suppresses when its category is banned.
        routing_ce = config.sink_token
                         ? routing_cross_entropy_with_sink(routing, mb.agreement, mb.routing_token,
                                                           static_cast<int64_t>(data->categories().size()), counted)
                         : routing_cross_entropy(routing, 1.0 - mb.agreement, mb.routing_token, counted);
        terms.routing = routing_ce.item<double>();
        if (step < config.routing_steps) {
            // The routing stage asks for nothing else (the trainer also keeps the value maps
            // still), so the adapter changes no image while its routing forms.
            terms.loss = config.routing_weight * routing_ce;
            return terms;
        }
    }
    if (mb.agreement.defined() && config.anchor_weight > 0)
        terms.loss = terms.loss +
                     config.anchor_weight * anchored_mse(model_pred, ref_pred, mb.agreement, mb.anchor_whole_rows);
    if (mb.agreement.defined() && config.counterpart_weight > 0)
        terms.loss = terms.loss + config.counterpart_weight *
                                      counterpart_mse(model_pred, target, mb.agreement, mb.counterpart_rows);
    if (routing_ce.defined())
        terms.loss = terms.loss + config.routing_weight * routing_ce;
    return terms;
}

} // namespace psa
