// SPDX-License-Identifier: GPL-3.0-or-later
// Stage 2 of the demo model: the CLIP text encoder and the UNet from scratch, trained jointly with
// the epsilon-prediction objective of DDPM (Ho et al. 2020, eq. 14) on the frozen VAE's latents,
// as diffusers' train_text_to_image.py does (timesteps uniform over the scheduler's training
// range, noise added with its alphas_cumprod) plus the text encoder in the graph. Empty captions
// (caption_dropout) teach the unconditional prediction that classifier-free guidance needs; the
// pipeline's negative prompt "" encodes to exactly those ids.
#include "common/error.h"
#include "pretrain/caption_image_set.h"
#include "pretrain/final_vae.h"
#include "pretrain/focus_weights.h"
#include "pretrain/pretrain_trainer.h"
#include "pretrain/stage_model.h"
#include "schedulers/scheduler_config.h"
#include "tensor_io/layers.h"
#include "tensor_io/state_dict.h"
#include "text_encoder/clip_text_model.h"
#include "tokenizer/clip_tokenizer.h"
#include "unet/unet.h"
#include "vae/autoencoder_kl.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>

namespace psa {

namespace fs = std::filesystem;

namespace {

class UnetStage : public StageModel {
public:
    UnetStage(const fs::path& run_dir, const CaptionImageSet& data, const PretrainConfig& config, JobControl& job,
              c10::Device device)
        : config_(config), device_(device)
    {
        const auto arch = run_dir / "arch";
        const auto tokenizer_dir = run_dir / "tokenizer";
        const auto vae_dir = run_dir / "vae" / "final";
        if (!fs::is_regular_file(tokenizer_dir / "vocab.json"))
            throw ConfigError(path_message(tokenizer_dir.string(), "no tokenizer yet: run the vocab stage first "
                                                                   "(--stage vocab)"));
        if (!fs::is_regular_file(vae_dir / "diffusion_pytorch_model.safetensors"))
            throw ConfigError(path_message(vae_dir.string(), "no trained VAE yet: run the vae stage to its last "
                                                             "step first (--stage vae)"));
        const auto tokenizer = CLIPTokenizer::from_dir(tokenizer_dir);
        const auto text_path = arch / "text_encoder" / "config.json";
        const auto unet_path = arch / "unet" / "config.json";
        text_config_ = CLIPTextConfig::from_json(text_path);
        unet_config_ = UNet2DConditionConfig::from_json(unet_path);
        const auto vae_config = AutoencoderKLConfig::from_json(vae_dir / "config.json");
        const auto scheduler = SchedulerConfig::from_json(arch / "scheduler" / "scheduler_config.json");
        check_fit(tokenizer, vae_config, text_path, unet_path);

        // Captions -> ids once; the empty caption is the unconditional input.
        const int length = static_cast<int>(text_config_.max_position_embeddings);
        std::vector<int64_t> ids;
        int truncated = 0;
        for (const auto& item : data.items()) {
            const auto e = tokenizer.encode_padded(item.caption, length);
            truncated += e.truncated ? 1 : 0;
            ids.insert(ids.end(), e.input_ids.begin(), e.input_ids.end());
        }
        if (truncated)
            spdlog::warn("pretrain: {} captions are longer than {} tokens and are truncated ({} "
                         "max_position_embeddings)", truncated, length, text_path.string());
        ids_ = torch::tensor(ids, torch::kLong)
                   .reshape({static_cast<int64_t>(data.size()), length})
                   .to(device); // [N, L]
        const auto empty = tokenizer.encode_padded("", length).input_ids;
        empty_ids_ = torch::tensor(empty, torch::kLong).to(device); // [L]

        alphas_cumprod_ = scheduler.alphas_cumprod().to(device, torch::kFloat);
        cache_latents(data, vae_dir, job);
        if (config.focus_weight != 1.0)
            focus_maps_ =
                focus_weight_maps(data, latent_mean_.size(2), latent_mean_.size(3), config.focus_weight).to(device);

        torch::manual_seed(config.seed); // layers draw their initial weights from the global generator
        text_encoder_ = CLIPTextModel(text_config_);
        unet_ = UNet2DConditionModel(unet_config_);
        // Only a stage without checkpoints starts from the model: a resume loads its checkpoint,
        // and a fresh run in a folder with checkpoints is refused, so neither needs the model.
        if (!config.init_from.empty() && !PretrainTrainer::latest_checkpoint(run_dir, PretrainStage::Unet))
            load_initial_weights(config.init_from, run_dir, text_encoder_, unet_);
        text_encoder_->to(device);
        unet_->to(device);
        text_encoder_->train();
        unet_->train();
    }

    std::vector<std::pair<std::string, torch::nn::Module*>> modules() override
    {
        return {{"text_encoder", text_encoder_.get()}, {"unet", unet_.get()}};
    }
    std::string ema_module() const override { return "unet"; }
    int64_t rows() const override { return ids_.size(0); }

    StageLoss loss(const std::vector<int64_t>& rows, at::Generator& gen,
                   const std::function<double()>* uniform01) override
    {
        const auto index = row_index(rows, device_);
        const auto b = static_cast<int64_t>(rows.size());
        auto ids = ids_.index_select(0, index).clone(); // [B, L]
        if (uniform01)
            for (int64_t i = 0; i < b; ++i)
                if ((*uniform01)() < config_.caption_dropout)
                    ids[i].copy_(empty_ids_);
        const auto mean = latent_mean_.index_select(0, index);
        auto latents = mean; // [B, C, h, w], unscaled
        if (config_.sample_posterior)
            latents = mean + latent_std_.index_select(0, index) * draw_on(device_, mean.sizes(), gen);
        latents = latents * scaling_factor_;
        const auto noise = draw_on(device_, latents.sizes(), gen);
        const auto t = torch::randint(0, alphas_cumprod_.size(0), {b}, gen, torch::kLong).to(device_);
        const auto alpha_bar_t = alphas_cumprod_.index_select(0, t).view({b, 1, 1, 1});
        const auto noisy = alpha_bar_t.sqrt() * latents + (1 - alpha_bar_t).sqrt() * noise;
        const auto context = text_encoder_->encode(ids); // [B, L, hidden]
        const auto prediction = unet_->forward(noisy, t, context);
        StageLoss out;
        out.loss = focus_maps_.defined() ? weighted_mse(prediction, noise, focus_maps_.index_select(0, index))
                                         : torch::mse_loss(prediction, noise);
        char terms[64];
        std::snprintf(terms, sizeof terms, focus_maps_.defined() ? "eps_mse (focus-weighted) %.5f" : "eps_mse %.5f",
                      out.loss.item<double>());
        out.terms = terms;
        return out;
    }

private:
    void check_fit(const CLIPTokenizer& tokenizer, const AutoencoderKLConfig& vae, const fs::path& text_path,
                   const fs::path& unet_path) const
    {
        if (text_config_.vocab_size != tokenizer.vocab_size())
            throw ConfigError(path_message(text_path.string(), "vocab_size " + std::to_string(text_config_.vocab_size) +
                                                                   " differs from the tokenizer's " +
                                                                   std::to_string(tokenizer.vocab_size()) +
                                                                   " entries (rerun --stage vocab)"));
        if (unet_config_.cross_dim(0) != text_config_.hidden_size)
            throw ConfigError(path_message(unet_path.string(), "cross_attention_dim " +
                                                                   std::to_string(unet_config_.cross_dim(0)) +
                                                                   " differs from the text encoder's hidden_size " +
                                                                   std::to_string(text_config_.hidden_size)));
        if (unet_config_.in_channels != vae.latent_channels || unet_config_.out_channels != vae.latent_channels)
            throw ConfigError(path_message(unet_path.string(), "in/out_channels must equal the VAE's latent_channels " +
                                                                   std::to_string(vae.latent_channels)));
        if (unet_config_.sample_size * vae.downsample_factor() != vae.sample_size)
            throw ConfigError(path_message(unet_path.string(),
                                           "sample_size " + std::to_string(unet_config_.sample_size) + " times the VAE's "
                                           "factor " + std::to_string(vae.downsample_factor()) + " is not the VAE's "
                                           "sample_size " + std::to_string(vae.sample_size)));
    }

    // Every image's posterior N(mean, std^2) under the trained VAE, computed once (the VAE is frozen).
    void cache_latents(const CaptionImageSet& data, const fs::path& vae_dir, JobControl& job)
    {
        torch::NoGradGuard no_grad;
        auto vae = load_final_vae(vae_dir);
        vae->to(device_);
        vae->eval();
        scaling_factor_ = vae->config().scaling_factor;
        const auto images = load_image_rows(data, static_cast<int>(vae->config().sample_size), job);
        const int64_t n = images.size(0);
        std::vector<at::Tensor> means, stds;
        constexpr int64_t kChunk = 64;
        for (int64_t first = 0; first < n; first += kChunk) {
            const auto chunk = images.slice(0, first, std::min(n, first + kChunk)).to(device_);
            const auto posterior = vae->encode(rows_to_unit_range(chunk));
            means.push_back(posterior.mean);
            stds.push_back(posterior.std);
            job.report(Stage::Encode, static_cast<int>(std::min(n, first + kChunk)), static_cast<int>(n), "latents");
        }
        latent_mean_ = torch::cat(means); // [N, C, h, w]
        latent_std_ = torch::cat(stds);
    }

    PretrainConfig config_;
    c10::Device device_;
    CLIPTextConfig text_config_;
    UNet2DConditionConfig unet_config_;
    at::Tensor ids_;       // [N, L] int64
    at::Tensor empty_ids_; // [L]
    at::Tensor alphas_cumprod_;
    at::Tensor latent_mean_, latent_std_;
    at::Tensor focus_maps_; // [N, 1, h, w] loss weights; undefined for the plain MSE
    double scaling_factor_ = 1.0;
    CLIPTextModel text_encoder_{nullptr};
    UNet2DConditionModel unet_{nullptr};
};

} // namespace

std::unique_ptr<StageModel> make_unet_stage(const fs::path& run_dir, const CaptionImageSet& data,
                                            const PretrainConfig& config, JobControl& job, c10::Device device)
{
    return std::make_unique<UnetStage>(run_dir, data, config, job, device);
}

} // namespace psa
