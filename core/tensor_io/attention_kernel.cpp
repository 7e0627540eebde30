// SPDX-License-Identifier: GPL-3.0-or-later
// One attention kernel for every model (CLIP, UNet, VAE, adapter). Softmax runs in float32 for
// half inputs, as diffusers' Attention upcasts, and the result returns in the input dtype.
#include "tensor_io/attention_kernel.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>

namespace psa {

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask)
{
#if TORCH_VERSION_MAJOR >= 2
    return at::scaled_dot_product_attention(q, k, v, mask.defined() ? c10::optional<at::Tensor>(mask)
                                                                    : c10::nullopt);
#else
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    auto scores = torch::matmul(q, k.transpose(-1, -2)).mul_(scale); // [B, H, N, M]
    if (mask.defined())
        scores = scores + mask;
    const bool upcast = scores.scalar_type() != torch::kFloat && scores.scalar_type() != torch::kDouble;
    auto probs = upcast ? torch::softmax(scores.to(torch::kFloat), -1).to(q.scalar_type())
                        : torch::softmax(scores, -1);
    return torch::matmul(probs, v);
#endif
}

bool uses_fused_attention()
{
#if TORCH_VERSION_MAJOR >= 2
    return true;
#else
    return false;
#endif
}

} // namespace psa
