// SPDX-License-Identifier: GPL-3.0-or-later
// An optional term of the adapter's loss that holds the policy to the reference where a
// preference pair's two images agree. A pair differs only where the concept is drawn (Sage's
// pairs, and the demo world's exactly), so DPO has nothing to say about the rest of the image,
// and an adapter free to change it loses the subject and the allowed content the prompt asked
// for. The term asks the adapter to leave the rest as the base model draws it.
#pragma once
#include <ATen/core/Tensor.h>

namespace psa {

/// [B, 1, h, w] float 0/1: the latent cells where the pair's posterior means agree, i.e. not
/// within one cell of a cell whose channel-summed difference |mean_w - mean_l| reaches
/// `relative_threshold` times that pair's largest difference. mean_w, mean_l: [B, C, h, w].
/// A pair with no difference at all is agreed everywhere.
at::Tensor pair_agreement_mask(const at::Tensor& mean_w, const at::Tensor& mean_l, double relative_threshold = 0.2);

/// Mean over the 2B samples of the squared policy-reference difference averaged over the agreed
/// cells (every channel), zero for a sample with no agreed cell. model_pred, ref_pred:
/// [2B, C, h, w] as [winning; losing]; agreement: [B, 1, h, w], used for both halves.
/// whole_rows: [B] of 0/1, pairs held over the whole image instead (TrainConfig::anchor_scope
/// "allowed"), or undefined for none.
at::Tensor anchored_mse(const at::Tensor& model_pred, const at::Tensor& ref_pred, const at::Tensor& agreement,
                        const at::Tensor& whole_rows = {});

/// Mean over the B pairs of the chosen half's squared error against `target` averaged over the
/// cells where the pair differs (1 - agreement, every channel), zero for a pair that agrees
/// everywhere. model_pred, target: [2B, C, h, w] as [winning; losing]; agreement: [B, 1, h, w].
/// rows: [B] of 0/1, the pairs the term covers (the others count as zero), or undefined for all.
at::Tensor counterpart_mse(const at::Tensor& model_pred, const at::Tensor& target, const at::Tensor& agreement,
                           const at::Tensor& rows = {});

} // namespace psa
