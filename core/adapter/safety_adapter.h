// SPDX-License-Identifier: GPL-3.0-or-later
// The PSA safety adapter: a user projection turning a profile embedding into user tokens, and on
// every UNet cross-attention layer a decoupled attention over those tokens (to_k_user, to_v_user)
// whose result, times a scale, is added to the text attention before to_out (PSA.md).
#pragma once
#include "adapter/token_layout.h"
#include "tensor_io/layers.h"
#include "unet/attention_hook.h"

#include <torch/nn/modules/container/modulelist.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace psa {

struct SafetyAdapterConfig {
    int64_t user_dim = 0;            ///< width of the profile embedding
    int64_t num_tokens = 1;          ///< user tokens (the reference uses 1)
    std::string token_layout = kDenseTokens; ///< adapter/token_layout.h; provenance, stored as metadata
    int64_t cross_attention_dim = 0; ///< width of each token (the UNet's text width)
    std::vector<int64_t> layer_dims; ///< inner_dim of each cross-attention layer, processor order
    /// Input width of each layer's own user query map (to_q_user), processor order; empty: the
    /// user attention reads the text attention's query, as the reference's does.
    std::vector<int64_t> query_dims;
    bool learned_null_user = false;  ///< carries a trained embedding for the unconditional branch
    /// Per-category tokens only: token c is multiplied by the profile's ban strength of category c,
    /// so an allowed category's token is zero (no key, no value) and only banned categories' tokens
    /// act; a place that reads an allowed token is left as the base model draws it. The sink token,
    /// if any, is not gated. Stored as file metadata "ban_gated_tokens".
    bool ban_gated_tokens = false;
    // Provenance, stored as file metadata.
    std::string profile_encoder = "structured";
    std::string profile_encoder_version = "1";
    std::string base_model;
    std::vector<std::string> categories; ///< the category order the encoder used
};

/// user_proj.proj (Linear user_dim -> num_tokens x cross_dim) then user_proj.norm (LayerNorm).
struct UserProjectionImpl : torch::nn::Module {
    UserProjectionImpl(int64_t user_dim, int64_t num_tokens, int64_t cross_dim);
    at::Tensor forward(const at::Tensor& embeds); // [B, user_dim] -> [B, T, cross_dim]
    Linear proj{nullptr};
    LayerNorm norm{nullptr};
    int64_t num_tokens = 1, cross_dim = 0;
};
TORCH_MODULE(UserProjection);

/// One layer's user key/value maps, named to_k_user.0 / to_v_user.0 like the reference, and
/// (query_dim > 0, our extension) a user query map of its own, to_q_user.0.
struct AdapterLayerImpl : torch::nn::Module {
    AdapterLayerImpl(int64_t cross_dim, int64_t inner_dim, int64_t query_dim = 0);
    torch::nn::ModuleList to_k_user{nullptr}, to_v_user{nullptr}, to_q_user{nullptr};
    Linear k{nullptr}, v{nullptr}, q{nullptr}; // the same modules, typed (q: nullptr without one)
};
TORCH_MODULE(AdapterLayer);

/// The adapter as a module (parameter names = the reference checkpoint keys) and as the UNet's
/// AttentionHook. Per-row scales let one batch mix conditions (scale 0 = adapter off for a row).
struct SafetyAdapterImpl : torch::nn::Module, AttentionHook {
    explicit SafetyAdapterImpl(const SafetyAdapterConfig& config);

    /// [B, user_dim] -> user tokens [B, T, cross_dim] (gated by the bans with ban_gated_tokens).
    at::Tensor user_tokens(const at::Tensor& embeds);
    /// Tokens of the unconditional branch: projection of the learned null embedding when the
    /// adapter has one, else projection of zeros (the reference). [B, T, cross_dim].
    at::Tensor null_user_tokens(int64_t batch);

    /// One scale for every row (scalar), or one per row [B] (cleared by set_scale).
    void set_scale(double scale);
    void set_row_scales(const at::Tensor& scales);

    at::Tensor extra_attention(int layer, const at::Tensor& hidden, const at::Tensor& query, int64_t heads,
                               const at::Tensor& extra_context) override;

    /// Whether the layers carry user query maps of their own (to_q_user).
    bool has_own_query() const { return !config_.query_dims.empty(); }
    /// Sets every layer's own user query map to the UNet's text query map (its to_q weights,
    /// one per layer in processor order), so that the adapter routes exactly as one without
    /// its own query until training moves it.
    void start_own_query_at(const std::vector<at::Tensor>& text_query_weights);

    /// While `out` is set, every layer's user-attention weights [B, heads, N, T] (softmax over
    /// the T tokens, with their autograd graph) are appended to it in layer order as the UNet
    /// runs: where each latent cell sends its user attention. nullptr stops recording. Read by
    /// the trainer's routing term and by `psa world routing`.
    void record_routing(std::vector<at::Tensor>* out) { routing_out_ = out; }

    const SafetyAdapterConfig& config() const { return config_; }

    UserProjection user_proj{nullptr};
    torch::nn::ModuleList psa_adapter{nullptr};
    at::Tensor null_user_embedding; // [1, user_dim], only with learned_null_user

private:
    SafetyAdapterConfig config_;
    std::vector<AdapterLayer> layers_;
    double scale_ = 1.0;
    at::Tensor row_scales_;
    std::vector<at::Tensor>* routing_out_ = nullptr;
};
TORCH_MODULE(SafetyAdapter);

/// Config that fits a UNet's cross-attention layers; own_query gives each layer a user query map
/// of its own (to_q_user).
SafetyAdapterConfig adapter_config_for(const std::vector<CrossAttentionLayerInfo>& layers,
                                       int64_t user_dim, int64_t num_tokens, bool own_query = false);

/// Throws ModelLoadError listing what does not fit (layer count, widths) between an adapter and
/// the UNet's cross-attention layers. `what` names the adapter file.
void check_adapter_fits(const SafetyAdapterConfig& adapter,
                        const std::vector<CrossAttentionLayerInfo>& layers, const std::string& what);

} // namespace psa
