// SPDX-License-Identifier: GPL-3.0-or-later
#include "tensor_io/layers.h"

#include <torch/torch.h>

#include <cmath>

namespace psa {

namespace {
thread_local ParamInit g_mode = ParamInit::Random;
}

ParamInitScope::ParamInitScope(ParamInit mode) : previous_(g_mode) { g_mode = mode; }
ParamInitScope::~ParamInitScope() { g_mode = previous_; }
ParamInit current_param_init() { return g_mode; }

at::Tensor make_param(at::IntArrayRef shape, double std, double fill)
{
    torch::NoGradGuard no_grad;
    switch (g_mode) {
    case ParamInit::Meta: return torch::empty(shape, torch::TensorOptions().device(torch::kMeta));
    case ParamInit::Empty: return torch::empty(shape);
    case ParamInit::Random: break;
    }
    if (fill > -1e30)
        return torch::full(shape, fill);
    return torch::randn(shape).mul_(std);
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias)
{
    weight = register_parameter("weight", make_param({out_features, in_features},
                                                     1.0 / std::sqrt(double(in_features))));
    if (with_bias)
        bias = register_parameter("bias", make_param({out_features}, 0.02));
}

at::Tensor LinearImpl::forward(const at::Tensor& x) { return torch::linear(x, weight, bias); }

Conv2dImpl::Conv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride_,
                       int64_t padding_, bool with_bias)
    : stride(stride_), padding(padding_)
{
    const double fan_in = double(in_channels * kernel * kernel);
    weight = register_parameter("weight", make_param({out_channels, in_channels, kernel, kernel},
                                                     1.0 / std::sqrt(fan_in)));
    if (with_bias)
        bias = register_parameter("bias", make_param({out_channels}, 0.02));
}

at::Tensor Conv2dImpl::forward(const at::Tensor& x)
{
    return torch::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
}

GroupNormImpl::GroupNormImpl(int64_t groups_, int64_t channels, double eps_, bool affine)
    : groups(groups_), eps(eps_)
{
    if (affine) {
        weight = register_parameter("weight", make_param({channels}, 0, 1.0));
        bias = register_parameter("bias", make_param({channels}, 0, 0.0));
    }
}

at::Tensor GroupNormImpl::forward(const at::Tensor& x)
{
    return torch::group_norm(x, groups, weight, bias, eps);
}

LayerNormImpl::LayerNormImpl(int64_t dim_, double eps_, bool affine) : dim(dim_), eps(eps_)
{
    if (affine) {
        weight = register_parameter("weight", make_param({dim_}, 0, 1.0));
        bias = register_parameter("bias", make_param({dim_}, 0, 0.0));
    }
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x)
{
    return torch::layer_norm(x, {dim}, weight, bias, eps);
}

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim)
{
    weight = register_parameter("weight", make_param({count, dim}, 0.02));
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) { return torch::embedding(weight, ids); }

std::vector<std::pair<std::string, std::vector<int64_t>>> parameter_shapes(const torch::nn::Module& m)
{
    std::vector<std::pair<std::string, std::vector<int64_t>>> out;
    for (const auto& p : m.named_parameters(true))
        out.emplace_back(p.key(), p.value().sizes().vec());
    for (const auto& b : m.named_buffers(true))
        out.emplace_back(b.key(), b.value().sizes().vec());
    return out;
}

int64_t parameter_count(const torch::nn::Module& m)
{
    int64_t n = 0;
    for (const auto& p : m.parameters(true))
        n += p.numel();
    return n;
}

} // namespace psa
