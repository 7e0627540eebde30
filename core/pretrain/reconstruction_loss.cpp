// SPDX-License-Identifier: GPL-3.0-or-later
#include "pretrain/reconstruction_loss.h"

#include "pretrain/focus_weights.h"

#include <torch/torch.h>

#include <cstdio>

namespace psa {

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

} // namespace

ReconstructionLoss reconstruction_loss(const at::Tensor& reconstruction, const at::Tensor& target,
                                       const PretrainConfig& config, const at::Tensor& pixel_weights)
{
    const auto diff = reconstruction - target;
    const auto l1 = pixel_weights.defined() ? weighted_mean(diff.abs(), pixel_weights) : diff.abs().mean();
    const auto mse = pixel_weights.defined() ? weighted_mean(diff.pow(2), pixel_weights) : diff.pow(2).mean();
    const auto edge = edge_l1(reconstruction, target);
    ReconstructionLoss out;
    out.total = l1 + config.mse_weight * mse + config.edge_weight * edge;
    char terms[128];
    std::snprintf(terms, sizeof terms, "%sl1 %.5f mse %.6f edge %.5f", pixel_weights.defined() ? "focus-weighted " : "",
                  l1.item<double>(), mse.item<double>(), edge.item<double>());
    out.terms = terms;
    return out;
}

} // namespace psa
