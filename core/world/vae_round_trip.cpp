// SPDX-License-Identifier: GPL-3.0-or-later
#include "world/vae_round_trip.h"

#include "pipeline/components.h"

#include <torch/torch.h>

namespace psa {

at::Tensor vae_round_trip(ModelComponents& model, const at::Tensor& images, JobControl& job)
{
    namespace F = torch::nn::functional;
    torch::NoGradGuard no_grad;
    const int64_t size = model.default_image_size();
    constexpr int64_t kBatch = 64;
    std::vector<at::Tensor> out;
    for (int64_t b = 0; b < images.size(0); b += kBatch) {
        if (job.stop_requested())
            return {};
        auto x = images.slice(0, b, std::min(images.size(0), b + kBatch));
        if (x.size(2) != size || x.size(3) != size)
            x = F::interpolate(x, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{size, size})
                                      .mode(torch::kBilinear)
                                      .align_corners(false)
                                      .antialias(true));
        x = (x * 2 - 1).to(model.device, model.dtype);
        // The posterior mean: the VAE's best reconstruction, without the sampling noise.
        const auto decoded = model.vae->decode(model.vae->encode(x).mean);
        const auto unit = ((decoded.to(torch::kCPU, torch::kFloat) + 1) / 2).clamp(0, 1);
        out.push_back((unit * 255).round() / 255);
        job.report(Stage::Evaluate, static_cast<int>(b + x.size(0)), static_cast<int>(images.size(0)), "VAE round trip");
    }
    return torch::cat(out);
}

} // namespace psa
