// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/anchor_loss.h"

#include <torch/torch.h>

namespace psa {

at::Tensor pair_agreement_mask(const at::Tensor& mean_w, const at::Tensor& mean_l, double relative_threshold)
{
    TORCH_CHECK(mean_w.sizes() == mean_l.sizes() && mean_w.dim() == 4,
                "pair_agreement_mask: two [B, C, h, w] latents of one shape, got ", mean_w.sizes(), ", ",
                mean_l.sizes());
    torch::NoGradGuard no_grad;
    const auto diff = (mean_w.to(torch::kFloat) - mean_l.to(torch::kFloat)).abs().sum(1, true); // [B, 1, h, w]
    const auto peak = std::get<0>(diff.flatten(1).max(1)).view({-1, 1, 1, 1});
    const auto differs = (diff >= relative_threshold * peak).logical_and(peak > 0).to(torch::kFloat);
    // One cell of margin: a motif's anti-aliased edge and the decoder's reach spill into neighbours.
    const auto near_difference = torch::max_pool2d(differs, {3, 3}, {1, 1}, {1, 1});
    return 1.0 - near_difference;
}

at::Tensor anchored_mse(const at::Tensor& model_pred, const at::Tensor& ref_pred, const at::Tensor& agreement)
{
    TORCH_CHECK(model_pred.sizes() == ref_pred.sizes() && model_pred.size(0) == 2 * agreement.size(0),
                "anchored_mse: predictions [2B, C, h, w] and an agreement mask [B, 1, h, w], got ",
                model_pred.sizes(), ", ", ref_pred.sizes(), ", ", agreement.sizes());
    const auto mask = torch::cat({agreement, agreement}).to(torch::kFloat); // [2B, 1, h, w]
    const auto sq = (model_pred.to(torch::kFloat) - ref_pred.to(torch::kFloat).detach()).pow(2) * mask;
    const auto cells = mask.sum(at::IntArrayRef{1, 2, 3}) * model_pred.size(1); // per sample
    const auto per_sample = sq.sum(at::IntArrayRef{1, 2, 3}) / cells.clamp_min(1.0);
    return per_sample.mean();
}

at::Tensor counterpart_mse(const at::Tensor& model_pred, const at::Tensor& target, const at::Tensor& agreement)
{
    TORCH_CHECK(model_pred.sizes() == target.sizes() && model_pred.size(0) == 2 * agreement.size(0),
                "counterpart_mse: predictions [2B, C, h, w] and an agreement mask [B, 1, h, w], got ",
                model_pred.sizes(), ", ", target.sizes(), ", ", agreement.sizes());
    const int64_t b = agreement.size(0);
    const auto differs = 1.0 - agreement.to(torch::kFloat); // [B, 1, h, w]
    const auto chosen = model_pred.slice(0, 0, b).to(torch::kFloat);
    const auto sq = (chosen - target.slice(0, 0, b).to(torch::kFloat)).pow(2) * differs;
    const auto cells = differs.sum(at::IntArrayRef{1, 2, 3}) * model_pred.size(1);
    return (sq.sum(at::IntArrayRef{1, 2, 3}) / cells.clamp_min(1.0)).mean();
}

} // namespace psa
