// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <ATen/core/Tensor.h>

namespace psa {

/// softmax(q k^T * scale + mask) v over [B, H, N, D] inputs (scale = 1/sqrt(D)).
/// Uses at::scaled_dot_product_attention on LibTorch >= 2.0 and an exact math path on 1.13.
/// `mask` (optional) is additive and broadcastable to [B, H, N, M]. The math path never relies on
/// baddbmm(beta=0) over uninitialised memory (it returned NaN on Debian's 1.13; fixtures README).
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask = {});

/// Whether the fused LibTorch >= 2.0 kernel is in use (for benchmarks and the About box).
bool uses_fused_attention();

} // namespace psa
