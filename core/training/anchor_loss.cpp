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

namespace {

// Mean over samples of the squared a - b difference averaged over each sample's masked cells (every
// channel); zero for a sample with no masked cell. a, b: [N, C, h, w]; mask: [N, 1, h, w] of 0/1.
at::Tensor masked_sample_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask)
{
    const auto m = mask.to(torch::kFloat);
    const auto sq = (a.to(torch::kFloat) - b.to(torch::kFloat)).pow(2) * m;
    const auto cells = m.sum(at::IntArrayRef{1, 2, 3}) * a.size(1);
    return (sq.sum(at::IntArrayRef{1, 2, 3}) / cells.clamp_min(1.0)).mean();
}

} // namespace

at::Tensor anchored_mse(const at::Tensor& model_pred, const at::Tensor& ref_pred, const at::Tensor& agreement,
                        const at::Tensor& whole_rows)
{
    TORCH_CHECK(model_pred.sizes() == ref_pred.sizes() && model_pred.size(0) == 2 * agreement.size(0),
                "anchored_mse: predictions [2B, C, h, w] and an agreement mask [B, 1, h, w], got ",
                model_pred.sizes(), ", ", ref_pred.sizes(), ", ", agreement.sizes());
    auto held = agreement.to(torch::kFloat);
    if (whole_rows.defined()) {
        TORCH_CHECK(whole_rows.numel() == agreement.size(0), "anchored_mse: ", agreement.size(0), " pairs but ",
                    whole_rows.numel(), " row flags");
        held = torch::max(held, whole_rows.to(held.device(), torch::kFloat).view({-1, 1, 1, 1}).expand_as(held));
    }
    return masked_sample_mse(model_pred, ref_pred.detach(), torch::cat({held, held}));
}

at::Tensor counterpart_mse(const at::Tensor& model_pred, const at::Tensor& target, const at::Tensor& agreement,
                           const at::Tensor& rows)
{
    TORCH_CHECK(model_pred.sizes() == target.sizes() && model_pred.size(0) == 2 * agreement.size(0),
                "counterpart_mse: predictions [2B, C, h, w] and an agreement mask [B, 1, h, w], got ",
                model_pred.sizes(), ", ", target.sizes(), ", ", agreement.sizes());
    const int64_t b = agreement.size(0); // the chosen half
    auto differs = 1.0 - agreement.to(torch::kFloat);
    if (rows.defined()) {
        TORCH_CHECK(rows.numel() == b, "counterpart_mse: ", b, " pairs but ", rows.numel(), " row flags");
        differs = differs * rows.to(differs.device(), torch::kFloat).view({-1, 1, 1, 1});
    }
    return masked_sample_mse(model_pred.slice(0, 0, b), target.slice(0, 0, b), differs);
}

} // namespace psa
