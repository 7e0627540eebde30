// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoint-compatible layers (parameters named weight/bias, like torch.nn) whose parameters are
// created through one factory, so a whole model can be built (a) with random weights for
// benchmarks, (b) uninitialised when weights are about to be loaded (no wasted init of 860 M
// parameters), or (c) on the meta device to list names and shapes without allocating anything.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace psa {

enum class ParamInit {
    Random, ///< N(0, 1/fan_in) weights, N(0, 0.02^2) biases; norms weight 1, bias 0
    Empty,  ///< allocated, uninitialised (weights follow from a file)
    Meta,   ///< meta device: shapes only, no memory
};

/// Sets how layers built on this thread create parameters until the scope ends (nests).
class ParamInitScope {
public:
    explicit ParamInitScope(ParamInit mode);
    ~ParamInitScope();
    ParamInitScope(const ParamInitScope&) = delete;
    ParamInitScope& operator=(const ParamInitScope&) = delete;

private:
    ParamInit previous_;
};
ParamInit current_param_init();

/// A parameter tensor created under the current mode. `std` is the N(0, std^2) of Random mode;
/// `fill` (when >= -1e30) makes Random mode fill a constant instead (norm weights/biases).
at::Tensor make_param(at::IntArrayRef shape, double std, double fill = -1e31);

struct LinearImpl : torch::nn::Module {
    LinearImpl(int64_t in_features, int64_t out_features, bool bias = true);
    at::Tensor forward(const at::Tensor& x);
    at::Tensor weight, bias; // weight [out, in]; bias [out] or undefined
};
TORCH_MODULE(Linear);

struct Conv2dImpl : torch::nn::Module {
    Conv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1,
               int64_t padding = 0, bool bias = true);
    at::Tensor forward(const at::Tensor& x);
    at::Tensor weight, bias; // weight [out, in, k, k]
    int64_t stride = 1, padding = 0;
};
TORCH_MODULE(Conv2d);

struct GroupNormImpl : torch::nn::Module {
    GroupNormImpl(int64_t groups, int64_t channels, double eps = 1e-5, bool affine = true);
    at::Tensor forward(const at::Tensor& x);
    at::Tensor weight, bias;
    int64_t groups = 32;
    double eps = 1e-5;
};
TORCH_MODULE(GroupNorm);

struct LayerNormImpl : torch::nn::Module {
    LayerNormImpl(int64_t dim, double eps = 1e-5, bool affine = true);
    at::Tensor forward(const at::Tensor& x);
    at::Tensor weight, bias;
    int64_t dim = 0;
    double eps = 1e-5;
};
TORCH_MODULE(LayerNorm);

struct EmbeddingImpl : torch::nn::Module {
    EmbeddingImpl(int64_t count, int64_t dim);
    at::Tensor forward(const at::Tensor& ids);
    at::Tensor weight; // [count, dim]
};
TORCH_MODULE(Embedding);

/// Every parameter and buffer of a module as "name<TAB>comma-separated shape" lines (the
/// fixtures' manifest format), in registration order.
std::vector<std::pair<std::string, std::vector<int64_t>>> parameter_shapes(const torch::nn::Module& m);
int64_t parameter_count(const torch::nn::Module& m);

} // namespace psa
