// SPDX-License-Identifier: GPL-3.0-or-later
// Stage 1 of the demo model: AutoencoderKL from scratch. Loss = L1 + mse_weight * MSE (per pixel)
// + kl_weight * KL(posterior || N(0, I)) (per latent element) + edge_weight * L1 of the finite
// differences, which keeps the thin edges of the world's motifs that a pixel loss blurs.
//
// After the last step the latents are standardized per channel. A KL weight this small leaves the
// latent channels far from N(0, I) (the demo VAE's channel means were 3.7, 2.2, 0.04, -0.42 at stds
// of 1.0-1.8). A diffusion model trained on such latents sees their mean leak through the noise
// at its last timesteps (sqrt(alphas_cumprod) is 0.07 there) but starts sampling from pure N(0, I),
// so every image came out with the wrong colours. Folding z' = (z - mean_c) / std_c into quant_conv
// and its inverse into post_quant_conv (both 1x1 convolutions) changes no reconstruction, and
// leaves scaling_factor = 1. A VAE without those convolutions falls back to diffusers' measure:
// scaling_factor = 1 / std of posterior samples over the data.
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_fields.h"
#include "pretrain/caption_image_set.h"
#include "pretrain/final_vae.h"
#include "pretrain/reconstruction_loss.h"
#include "pretrain/stage_model.h"
#include "tensor_io/safetensors.h"
#include "vae/autoencoder_kl.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

namespace psa {

namespace fs = std::filesystem;

namespace {

/// Per latent channel: mean and std of posterior samples over all images (fixed seed). [C] double.
struct LatentChannelStats {
    at::Tensor mean, std;
};

/// Folds z' = (z - mean) / std into the weights (names as AutoencoderKL's named_parameters) so that
/// encode gives standardized latents and decode(z') = the old decode(z).
void fold_latent_standardization(NamedTensors& weights, const LatentChannelStats& stats)
{
    const auto find = [&weights](const std::string& name) -> at::Tensor& {
        for (auto& [key, tensor] : weights)
            if (key == name)
                return tensor;
        throw Error("VAE latent standardization: no tensor " + name);
    };
    const int64_t c = stats.mean.size(0);
    const auto mean = stats.mean.to(torch::kFloat);
    const auto std = stats.std.to(torch::kFloat);
    using torch::indexing::Slice;
    // quant_conv: rows [0, C) are the posterior mean, rows [C, 2C) its log-variance.
    auto& qw = find("quant_conv.weight"); // [2C, 2C, 1, 1]
    auto& qb = find("quant_conv.bias");   // [2C]
    qw.index({Slice(0, c)}).div_(std.view({c, 1, 1, 1}));
    qb.index({Slice(0, c)}).sub_(mean).div_(std);
    qb.index({Slice(c, 2 * c)}).sub_(2.0 * std.log());
    // post_quant_conv sees z = std * z' + mean: scale its input columns, move the offset to the bias.
    auto& pw = find("post_quant_conv.weight"); // [C, C, 1, 1]
    auto& pb = find("post_quant_conv.bias");   // [C]
    pb.add_(torch::matmul(pw.view({c, c}), mean));
    pw.mul_(std.view({1, c, 1, 1}));
}

class VaeStage : public StageModel {
public:
    VaeStage(const fs::path& run_dir, const CaptionImageSet& data, const PretrainConfig& config, JobControl& job,
             c10::Device device)
        : run_dir_(run_dir), config_(config), device_(device)
    {
        const auto config_path = run_dir / "arch" / "vae" / "config.json";
        vae_config_ = AutoencoderKLConfig::from_json(config_path);
        const int resolution = static_cast<int>(vae_config_.sample_size);
        if (resolution % vae_config_.downsample_factor() != 0)
            throw ConfigError(path_message(config_path.string(), "sample_size " + std::to_string(resolution) +
                                                                     " is not a multiple of the downsampling factor " +
                                                                     std::to_string(vae_config_.downsample_factor())));
        images_ = load_image_rows(data, resolution, job).to(device);
        torch::manual_seed(config.seed); // layers draw their initial weights from the global generator
        vae_ = AutoencoderKL(vae_config_);
        vae_->to(device);
        vae_->train();
    }

    std::vector<std::pair<std::string, torch::nn::Module*>> modules() override { return {{"vae", vae_.get()}}; }
    int64_t rows() const override { return images_.size(0); }

    StageLoss loss(const std::vector<int64_t>& rows, at::Generator& gen,
                   const std::function<double()>*) override
    {
        const auto x = rows_to_unit_range(images_.index_select(0, row_index(rows, device_))); // [B,3,R,R]
        const auto posterior = vae_->encode(x);
        const auto eps = draw_on(device_, posterior.mean.sizes(), gen);
        const auto pixels = reconstruction_loss(vae_->decode(posterior.sample(eps)), x, config_);
        const auto kl = 0.5 * (posterior.mean.pow(2) + posterior.logvar.exp() - 1.0 - posterior.logvar).mean();
        StageLoss out;
        out.loss = pixels.total + config_.kl_weight * kl;
        out.terms = fmt::format("{} kl {:.4g}", pixels.terms, kl.item<double>());
        return out;
    }

    void complete(JobControl& job) override
    {
        torch::NoGradGuard no_grad;
        const auto stats = latent_channel_stats(job);
        auto tensors = vae_tensors(vae_);
        double scaling_factor = 1.0;
        if (vae_config_.use_quant_conv && vae_config_.use_post_quant_conv) {
            fold_latent_standardization(tensors, stats);
        } else {
            // Diffusers' measure over all channels together: E[z^2] - E[z]^2 from the per-channel moments.
            const auto second = (stats.std.pow(2) + stats.mean.pow(2)).mean().item<double>();
            const auto mean = stats.mean.mean().item<double>();
            scaling_factor = 1.0 / std::sqrt(std::max(1e-12, second - mean * mean));
            spdlog::warn("pretrain: the VAE has no quant_conv/post_quant_conv, so its latents cannot be "
                         "standardized per channel; scaling_factor {:.5f} only", scaling_factor);
        }

        // The scaling factor goes into the run's architecture config (what export ships) ...
        const auto config_path = run_dir_ / "arch" / "vae" / "config.json";
        auto j = read_json_object_file(config_path);
        j["scaling_factor"] = scaling_factor;
        write_file_atomic(config_path, j.dump(2) + "\n");
        // ... and the weights into vae/final, which the UNet stage encodes with.
        write_final_vae(run_dir_ / "vae" / "final", tensors, j);
        const auto list = [](const at::Tensor& t) {
            std::string out;
            for (int64_t i = 0; i < t.size(0); ++i)
                out += fmt::format("{}{:.4f}", i ? ", " : "", t[i].item<double>());
            return out;
        };
        spdlog::info("pretrain: VAE latent channels before standardization: mean [{}], std [{}]; "
                     "scaling_factor {:.5f}", list(stats.mean), list(stats.std), scaling_factor);
    }

private:
    LatentChannelStats latent_channel_stats(JobControl& job)
    {
        vae_->eval();
        auto gen = at::make_generator<at::CPUGeneratorImpl>(config_.seed + 1);
        at::Tensor sum, sum_sq;
        double count = 0;
        const int64_t n = images_.size(0);
        constexpr int64_t kChunk = 64;
        for (int64_t first = 0; first < n; first += kChunk) {
            const auto x = rows_to_unit_range(images_.slice(0, first, std::min(n, first + kChunk)));
            const auto posterior = vae_->encode(x);
            const auto z = posterior.sample(draw_on(device_, posterior.mean.sizes(), gen))
                               .to(torch::kDouble); // [B, C, h, w]
            const auto s = z.sum(at::IntArrayRef{0, 2, 3}), s2 = z.pow(2).sum(at::IntArrayRef{0, 2, 3});
            sum = sum.defined() ? sum + s : s;
            sum_sq = sum_sq.defined() ? sum_sq + s2 : s2;
            count += static_cast<double>(z.numel() / z.size(1));
            job.report(Stage::Encode, static_cast<int>(std::min(n, first + kChunk)), static_cast<int>(n),
                       "latent statistics");
        }
        vae_->train();
        LatentChannelStats stats;
        stats.mean = sum / count;
        stats.std = (sum_sq / count - stats.mean.pow(2)).clamp_min(1e-12).sqrt();
        return stats;
    }

    fs::path run_dir_;
    PretrainConfig config_;
    c10::Device device_;
    AutoencoderKLConfig vae_config_;
    at::Tensor images_; // [N, 3, R, R] uint8
    AutoencoderKL vae_{nullptr};
};

} // namespace

std::unique_ptr<StageModel> make_vae_stage(const fs::path& run_dir, const CaptionImageSet& data,
                                           const PretrainConfig& config, JobControl& job, c10::Device device)
{
    return std::make_unique<VaeStage>(run_dir, data, config, job, device);
}

} // namespace psa
