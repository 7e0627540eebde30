// SPDX-License-Identifier: GPL-3.0-or-later
// Private to core/pretrain: the pixel loss of a VAE's reconstruction, shared by the VAE stage and
// the decoder stage: L1 + mse_weight * MSE + edge_weight * L1 of the finite differences (which keeps
// the thin edges of the world's motifs that a pixel loss blurs).
#pragma once
#include "pretrain/pretrain_config.h"

#include <ATen/core/Tensor.h>

#include <string>

namespace psa {

struct ReconstructionLoss {
    at::Tensor total; ///< 0-d
    std::string terms; ///< "l1 ... mse ... edge ..." for the log line
};

/// `reconstruction` and `target` [B, 3, H, W] in [-1, 1]. `pixel_weights` ([B, 1, H, W], or
/// undefined for all ones) weights the L1 and MSE per pixel, normalized by their sum so that the
/// terms stay on the plain losses' scale.
ReconstructionLoss reconstruction_loss(const at::Tensor& reconstruction, const at::Tensor& target,
                                       const PretrainConfig& config, const at::Tensor& pixel_weights = {});

} // namespace psa
