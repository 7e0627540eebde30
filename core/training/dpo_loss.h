// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <ATen/core/Tensor.h>

namespace psa {

/// The personalized Diffusion-DPO objective (PSA.md "Training"; PSAlign train.py compute_loss).
/// Batches are [winning half; losing half] along dim 0, sharing one noise target.
struct DpoLossTerms {
    at::Tensor loss;           // scalar, differentiable: mean(-log sigmoid(inside_term)) [+ SFT term]
    at::Tensor inside_term;    // [B] = -beta/2 * ((w - l)_model - (w - l)_ref)
    at::Tensor model_losses;   // [2B] per-sample MSE over C, H, W
    at::Tensor ref_losses;     // [2B]
    double model_mse = 0;      // 0.5 * (mean(w) + mean(l))
    double ref_mse = 0;        // mean(ref_losses)
    double accuracy = 0;       // fraction of inside_term > 0 (implicit preference accuracy)
    double model_losses_w = 0, model_losses_l = 0;
    double dpo_preference = 0; // mean(inside_term)
    double routing = 0;        // the routing term's cross-entropy (training/routing_loss.h), when on
};

/// model_pred, ref_pred, target: [2B, C, H, W]. Uses a numerically stable log-sigmoid, so a
/// saturated inside term gives a finite loss and gradient. sft_weight > 0 adds sft_weight times the
/// policy's mean error on the winning half (our addition; 0 is the reference's objective).
DpoLossTerms dpo_loss(const at::Tensor& model_pred, const at::Tensor& ref_pred, const at::Tensor& target,
                      double beta_dpo = 5000.0, double sft_weight = 0.0);

} // namespace psa
