// SPDX-License-Identifier: GPL-3.0-or-later
// Behaviour of PSAlign's PSAAttnProcessor2_0 / PSAProjection (psa_adapter/*.py): user attention
// uses the same queries and head split as the text attention, keys and values from the user
// tokens, softmax over the user tokens only; the sum happens before to_out. An adapter may carry
// user query maps of its own (to_q_user, our extension): the text query map is trained for the
// words, and a place's category may live in features it does not read.
#include "adapter/safety_adapter.h"

#include "adapter/per_category_tokens.h"
#include "common/error.h"
#include "tensor_io/attention_kernel.h"
#include "tensor_io/state_dict.h"

#include <torch/torch.h>

#include <cmath>

namespace psa {

UserProjectionImpl::UserProjectionImpl(int64_t user_dim, int64_t num_tokens_, int64_t cross_dim_)
    : num_tokens(num_tokens_), cross_dim(cross_dim_)
{
    proj = register_module("proj", Linear(user_dim, num_tokens_ * cross_dim_));
    norm = register_module("norm", LayerNorm(cross_dim_));
}

at::Tensor UserProjectionImpl::forward(const at::Tensor& embeds)
{
    return norm(proj(embeds).reshape({-1, num_tokens, cross_dim}));
}

AdapterLayerImpl::AdapterLayerImpl(int64_t cross_dim, int64_t inner_dim, int64_t query_dim)
{
    // The reference zero-initialises both maps so that a new adapter changes nothing.
    k = Linear(cross_dim, inner_dim, false);
    v = Linear(cross_dim, inner_dim, false);
    if (k->weight.device().type() != c10::kMeta && current_param_init() == ParamInit::Random) {
        torch::NoGradGuard no_grad;
        k->weight.zero_();
        v->weight.zero_();
    }
    to_k_user = register_module("to_k_user", torch::nn::ModuleList(k));
    to_v_user = register_module("to_v_user", torch::nn::ModuleList(v));
    if (query_dim > 0) {
        // Left as drawn here; a trainer starts it at the text query map (start_own_query_at).
        q = Linear(query_dim, inner_dim, false);
        to_q_user = register_module("to_q_user", torch::nn::ModuleList(q));
    }
}

SafetyAdapterImpl::SafetyAdapterImpl(const SafetyAdapterConfig& config) : config_(config)
{
    if (config.user_dim <= 0 || config.num_tokens <= 0 || config.cross_attention_dim <= 0)
        throw ConfigError("safety adapter: user_dim, num_tokens and cross_attention_dim must be positive");
    user_proj = register_module("user_proj", UserProjection(config.user_dim, config.num_tokens,
                                                            config.cross_attention_dim));
    if (!config.query_dims.empty() && config.query_dims.size() != config.layer_dims.size())
        throw ConfigError("safety adapter: " + std::to_string(config.query_dims.size()) + " user query maps for " +
                          std::to_string(config.layer_dims.size()) + " layers");
    psa_adapter = register_module("psa_adapter", torch::nn::ModuleList());
    for (size_t i = 0; i < config.layer_dims.size(); ++i) {
        const int64_t query_dim = config.query_dims.empty() ? 0 : config.query_dims[i];
        layers_.push_back(AdapterLayer(config.cross_attention_dim, config.layer_dims[i], query_dim));
        psa_adapter->push_back(layers_.back());
    }
    if (config.ban_gated_tokens) {
        // The gates are the embedding's first features, one per category of the recorded list.
        if (config.token_layout != kPerCategoryTokens || config.categories.empty())
            throw ConfigError(
                "safety adapter: ban-gated tokens need per-category tokens and the list of "
                "categories they read");
        check_per_category_tokens(static_cast<int64_t>(config.categories.size()), config.num_tokens,
                                  config.user_dim);
    }
    if (config.learned_null_user)
        null_user_embedding = register_parameter("null_user_embedding", make_param({1, config.user_dim}, 0.0, 0.0));
}

at::Tensor SafetyAdapterImpl::user_tokens(const at::Tensor& embeds)
{
    auto tokens = user_proj(embeds);
    if (!config_.ban_gated_tokens)
        return tokens;
    // Gate token c by feature c (the ban strength); the sink token past the categories stays open.
    const auto categories = static_cast<int64_t>(config_.categories.size());
    auto gate = embeds.narrow(1, 0, categories).to(tokens.scalar_type());
    if (tokens.size(1) > categories)
        gate = torch::cat(
            {gate, torch::ones({gate.size(0), tokens.size(1) - categories}, gate.options())}, 1);
    return tokens * gate.unsqueeze(2);
}

at::Tensor SafetyAdapterImpl::null_user_tokens(int64_t batch)
{
    const auto& w = user_proj->proj->weight;
    const auto null = null_user_embedding.defined() ? null_user_embedding
                                                    : torch::zeros({1, config_.user_dim}, w.options());
    return user_tokens(null).expand({batch, -1, -1});
}

void SafetyAdapterImpl::set_scale(double scale)
{
    scale_ = scale;
    row_scales_ = at::Tensor();
}

void SafetyAdapterImpl::set_row_scales(const at::Tensor& scales) { row_scales_ = scales; }

void SafetyAdapterImpl::start_own_query_at(const std::vector<at::Tensor>& text_query_weights)
{
    if (!has_own_query())
        throw InvalidRequest("own user query start: the adapter has no user query maps of its own");
    if (text_query_weights.size() != layers_.size())
        throw InvalidRequest("own user query start: " + std::to_string(text_query_weights.size()) +
                             " text query maps for " + std::to_string(layers_.size()) + " adapter layers");
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < layers_.size(); ++i) {
        auto& w = layers_[i]->q->weight;
        if (text_query_weights[i].sizes() != w.sizes())
            throw InvalidRequest("own user query start: layer " + std::to_string(i) + "'s text query map is " +
                                 shape_string(text_query_weights[i].sizes()) + ", its user query map " +
                                 shape_string(w.sizes()));
        w.copy_(text_query_weights[i]);
    }
}

at::Tensor SafetyAdapterImpl::extra_attention(int layer, const at::Tensor& hidden, const at::Tensor& text_query,
                                              int64_t heads, const at::Tensor& extra_context)
{
    TORCH_CHECK(layer >= 0 && layer < static_cast<int>(layers_.size()), "adapter has no layer ", layer);
    if (!extra_context.defined())
        return {};
    auto& l = layers_[static_cast<size_t>(layer)];
    const auto query = l->q ? l->q(hidden) : text_query;
    const auto tokens = extra_context.to(query.scalar_type());
    const int64_t b = query.size(0), n = query.size(1), inner = query.size(2), d = inner / heads;
    const auto k = l->k(tokens), v = l->v(tokens); // [B, T, inner]
    const int64_t t = k.size(1);
    const auto q4 = query.view({b, n, heads, d}).transpose(1, 2);
    const auto k4 = k.view({b, t, heads, d}).transpose(1, 2);
    const auto v4 = v.view({b, t, heads, d}).transpose(1, 2);
    at::Tensor out;
    if (routing_out_) {
        // The same attention with its weights kept (the fused kernel does not return them).
        const auto weights = (q4.matmul(k4.transpose(-1, -2)) / std::sqrt(static_cast<double>(d))).softmax(-1);
        routing_out_->push_back(weights);
        out = weights.matmul(v4);
    } else {
        out = psa::scaled_dot_product_attention(q4, k4, v4);
    }
    out = out.transpose(1, 2).reshape({b, n, inner});
    if (row_scales_.defined()) {
        TORCH_CHECK(row_scales_.numel() == b, "row scales: ", row_scales_.numel(), " for a batch of ", b);
        return out * row_scales_.to(out.options()).view({b, 1, 1});
    }
    return scale_ == 1.0 ? out : out * scale_;
}

SafetyAdapterConfig adapter_config_for(const std::vector<CrossAttentionLayerInfo>& layers,
                                       int64_t user_dim, int64_t num_tokens, bool own_query)
{
    SafetyAdapterConfig c;
    c.user_dim = user_dim;
    c.num_tokens = num_tokens;
    c.cross_attention_dim = layers.empty() ? 0 : layers.front().cross_attention_dim;
    for (const auto& l : layers) {
        c.layer_dims.push_back(l.inner_dim);
        if (own_query)
            c.query_dims.push_back(l.query_dim);
    }
    return c;
}

void check_adapter_fits(const SafetyAdapterConfig& a, const std::vector<CrossAttentionLayerInfo>& layers,
                        const std::string& what)
{
    std::vector<std::string> problems;
    if (a.layer_dims.size() != layers.size())
        problems.push_back("it has " + std::to_string(a.layer_dims.size()) +
                           " cross-attention layers, the UNet has " + std::to_string(layers.size()));
    for (size_t i = 0; i < std::min(a.layer_dims.size(), layers.size()); ++i) {
        if (a.layer_dims[i] != layers[i].inner_dim)
            problems.push_back("layer " + std::to_string(i) + " (" + layers[i].name + ") is " +
                               std::to_string(a.layer_dims[i]) + " wide, the UNet's is " +
                               std::to_string(layers[i].inner_dim));
        if (!a.query_dims.empty() && a.query_dims[i] != layers[i].query_dim)
            problems.push_back("layer " + std::to_string(i) + "'s user query map reads " +
                               std::to_string(a.query_dims[i]) + " features, the UNet's layer has " +
                               std::to_string(layers[i].query_dim));
        if (a.cross_attention_dim != layers[i].cross_attention_dim) {
            problems.push_back("user tokens are " + std::to_string(a.cross_attention_dim) +
                               " wide, the UNet's text context is " + std::to_string(layers[i].cross_attention_dim));
            break;
        }
    }
    if (problems.empty())
        return;
    std::string msg = what + ": this adapter does not fit the loaded model";
    for (size_t i = 0; i < problems.size() && i < 10; ++i)
        msg += "\n  " + problems[i];
    msg += "\n  hint: use an adapter trained for this base model";
    throw ModelLoadError(msg);
}

} // namespace psa
