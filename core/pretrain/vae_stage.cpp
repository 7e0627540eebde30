// SPDX-License-Identifier: GPL-3.0-or-later
// Stage 1 of the demo model: AutoencoderKL from scratch. Loss = L1 + mse_weight * MSE (per pixel)
// + kl_weight * KL(posterior || N(0, I)) (per latent element) + edge_weight * L1 of the finite
// differences, which keeps the thin edges of the world's motifs that a pixel loss blurs. After the
// last step the latent scale is measured as diffusers' training scripts do: scaling_factor = 1 / std
// of posterior samples over the data.
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_fields.h"
#include "pretrain/caption_image_set.h"
#include "pretrain/stage_model.h"
#include "tensor_io/safetensors.h"
#include "vae/autoencoder_kl.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

namespace psa {

namespace fs = std::filesystem;

namespace {

at::Tensor edge_l1(const at::Tensor& a, const at::Tensor& b)
{
    using torch::indexing::Slice;
    const auto dx = [](const at::Tensor& t) { return t.index({Slice(), Slice(), Slice(), Slice(1)}) -
                                                     t.index({Slice(), Slice(), Slice(), Slice(0, -1)}); };
    const auto dy = [](const at::Tensor& t) { return t.index({Slice(), Slice(), Slice(1), Slice()}) -
                                                     t.index({Slice(), Slice(), Slice(0, -1), Slice()}); };
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean();
}

class VaeStage : public StageModel {
public:
    VaeStage(const fs::path& run_dir, const CaptionImageSet& data, const PretrainConfig& config, JobControl& job)
        : run_dir_(run_dir), config_(config)
    {
        const auto config_path = run_dir / "arch" / "vae" / "config.json";
        vae_config_ = AutoencoderKLConfig::from_json(config_path);
        const int resolution = static_cast<int>(vae_config_.sample_size);
        if (resolution % vae_config_.downsample_factor() != 0)
            throw ConfigError(path_message(config_path.string(), "sample_size " + std::to_string(resolution) +
                                                                     " is not a multiple of the downsampling factor " +
                                                                     std::to_string(vae_config_.downsample_factor())));
        images_ = load_image_rows(data, resolution, job);
        torch::manual_seed(config.seed); // layers draw their initial weights from the global generator
        vae_ = AutoencoderKL(vae_config_);
        vae_->train();
    }

    std::vector<std::pair<std::string, torch::nn::Module*>> modules() override { return {{"vae", vae_.get()}}; }
    int64_t rows() const override { return images_.size(0); }

    StageLoss loss(const std::vector<int64_t>& rows, at::Generator& gen,
                   const std::function<double()>*) override
    {
        const auto x = rows_to_unit_range(images_.index_select(0, torch::tensor(rows, torch::kLong))); // [B,3,R,R]
        const auto posterior = vae_->encode(x);
        const auto eps = torch::randn(posterior.mean.sizes(), gen, torch::kFloat);
        const auto reconstruction = vae_->decode(posterior.sample(eps));
        const auto diff = reconstruction - x;
        const auto l1 = diff.abs().mean();
        const auto mse = diff.pow(2).mean();
        const auto kl = 0.5 * (posterior.mean.pow(2) + posterior.logvar.exp() - 1.0 - posterior.logvar).mean();
        const auto edge = edge_l1(reconstruction, x);
        StageLoss out;
        out.loss = l1 + config_.mse_weight * mse + config_.kl_weight * kl + config_.edge_weight * edge;
        char terms[160];
        std::snprintf(terms, sizeof terms, "l1 %.5f mse %.6f kl %.4g edge %.5f", l1.item<double>(),
                      mse.item<double>(), kl.item<double>(), edge.item<double>());
        out.terms = terms;
        return out;
    }

    void complete(JobControl& job) override
    {
        torch::NoGradGuard no_grad;
        vae_->eval();
        // The std of posterior samples over the whole set (fixed seed), as diffusers measures it.
        auto gen = at::make_generator<at::CPUGeneratorImpl>(config_.seed + 1);
        double sum = 0, sum_sq = 0, count = 0;
        const int64_t n = images_.size(0);
        constexpr int64_t kChunk = 64;
        for (int64_t first = 0; first < n; first += kChunk) {
            const auto x = rows_to_unit_range(images_.slice(0, first, std::min(n, first + kChunk)));
            const auto posterior = vae_->encode(x);
            const auto z = posterior.sample(torch::randn(posterior.mean.sizes(), gen, torch::kFloat))
                               .to(torch::kDouble);
            sum += z.sum().item<double>();
            sum_sq += z.pow(2).sum().item<double>();
            count += static_cast<double>(z.numel());
            job.report(Stage::Encode, static_cast<int>(std::min(n, first + kChunk)), static_cast<int>(n),
                       "latent scale");
        }
        const double mean = sum / count;
        const double std = std::sqrt(std::max(1e-12, sum_sq / count - mean * mean));
        const double scaling_factor = 1.0 / std;
        vae_->train();

        // The scaling factor goes into the run's architecture config (what export ships) ...
        const auto config_path = run_dir_ / "arch" / "vae" / "config.json";
        auto j = read_json_object_file(config_path);
        j["scaling_factor"] = scaling_factor;
        write_file_atomic(config_path, j.dump(2) + "\n");
        // ... and the weights into vae/final, which the UNet stage encodes with.
        const auto final_dir = run_dir_ / "vae" / "final";
        fs::create_directories(final_dir);
        NamedTensors tensors;
        for (const auto& p : vae_->named_parameters(true))
            tensors.emplace_back(p.key(), p.value().detach().clone());
        for (const auto& b : vae_->named_buffers(true))
            tensors.emplace_back(b.key(), b.value().detach().clone());
        save_safetensors(final_dir / "diffusion_pytorch_model.safetensors", tensors, {{"format", "pt"}});
        write_file_atomic(final_dir / "config.json", j.dump(2) + "\n");
        spdlog::info("pretrain: VAE latent std {:.4f} (mean {:.4f}): scaling_factor {:.5f}", std, mean,
                     scaling_factor);
    }

private:
    fs::path run_dir_;
    PretrainConfig config_;
    AutoencoderKLConfig vae_config_;
    at::Tensor images_; // [N, 3, R, R] uint8
    AutoencoderKL vae_{nullptr};
};

} // namespace

std::unique_ptr<StageModel> make_vae_stage(const fs::path& run_dir, const CaptionImageSet& data,
                                           const PretrainConfig& config, JobControl& job)
{
    return std::make_unique<VaeStage>(run_dir, data, config, job);
}

} // namespace psa
