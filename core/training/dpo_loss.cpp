// SPDX-License-Identifier: GPL-3.0-or-later
// Diffusion-DPO (Wallace et al. 2023) as PSAlign computes it: per-sample MSEs, the difference of
// winning/losing errors for policy and reference, scaled by -beta/2, through -log sigmoid.
#include "training/dpo_loss.h"

#include <torch/torch.h>

namespace psa {

DpoLossTerms dpo_loss(const at::Tensor& model_pred, const at::Tensor& ref_pred, const at::Tensor& target,
                      double beta_dpo, double sft_weight)
{
    TORCH_CHECK(model_pred.sizes() == target.sizes() && ref_pred.sizes() == target.sizes(),
                "dpo_loss: predictions and target must have one shape, got ", model_pred.sizes(), ", ",
                ref_pred.sizes(), ", ", target.sizes());
    TORCH_CHECK(model_pred.size(0) % 2 == 0, "dpo_loss: the batch must be [winning; losing]");
    DpoLossTerms t;
    std::vector<int64_t> reduce_dims;
    for (int64_t d = 1; d < model_pred.dim(); ++d)
        reduce_dims.push_back(d);
    const auto target32 = target.to(torch::kFloat);
    t.model_losses = (model_pred.to(torch::kFloat) - target32).pow(2).mean(reduce_dims);
    t.ref_losses = (ref_pred.to(torch::kFloat) - target32).pow(2).mean(reduce_dims).detach();
    const auto m = t.model_losses.chunk(2), r = t.ref_losses.chunk(2);
    const auto model_diff = m[0] - m[1];
    const auto ref_diff = r[0] - r[1];
    t.inside_term = -0.5 * beta_dpo * (model_diff - ref_diff);
    // log_sigmoid is computed stably by torch (softplus form), unlike log(sigmoid(x)).
    t.loss = -torch::log_sigmoid(t.inside_term).mean();
    // DPO alone only ranks the pair: it may make the chosen image less likely too, as long as the
    // rejected one loses more, and once a pair saturates nothing holds the model near its data.
    // Keeping the chosen image's own denoising error in the loss (as DPO + SFT does for language
    // models) keeps the subject and the allowed content that the chosen image shows.
    if (sft_weight > 0)
        t.loss = t.loss + sft_weight * m[0].mean();

    const auto detached = t.inside_term.detach();
    t.model_losses_w = m[0].detach().mean().item<double>();
    t.model_losses_l = m[1].detach().mean().item<double>();
    t.model_mse = 0.5 * (t.model_losses_w + t.model_losses_l);
    t.ref_mse = t.ref_losses.mean().item<double>();
    t.accuracy = (detached > 0).to(torch::kFloat).mean().item<double>();
    t.dpo_preference = detached.mean().item<double>();
    return t;
}

} // namespace psa
