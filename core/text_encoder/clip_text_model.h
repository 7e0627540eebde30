// SPDX-License-Identifier: GPL-3.0-or-later
// The CLIP text transformer SD1.5 conditions on (Hugging Face CLIPTextModel), with parameter names
// equal to the checkpoint keys: text_model.embeddings.*, text_model.encoder.layers.N.*,
// text_model.final_layer_norm.*.
#pragma once
#include "tensor_io/layers.h"
#include "tensor_io/state_dict.h"
#include "text_encoder/clip_text_config.h"

#include <torch/nn/modules/container/modulelist.h>

#include <string>
#include <vector>

namespace psa {

/// Token plus learned absolute position embeddings.
struct CLIPTextEmbeddingsImpl : torch::nn::Module {
    explicit CLIPTextEmbeddingsImpl(const CLIPTextConfig& config);
    at::Tensor forward(const at::Tensor& input_ids); // [B, L] int64 -> [B, L, hidden]
    Embedding token_embedding{nullptr};              // [vocab_size, hidden]
    Embedding position_embedding{nullptr};           // [max_position_embeddings, hidden]
};
TORCH_MODULE(CLIPTextEmbeddings);

/// Multi-head self-attention with an additive mask.
struct CLIPAttentionImpl : torch::nn::Module {
    explicit CLIPAttentionImpl(const CLIPTextConfig& config);
    at::Tensor forward(const at::Tensor& x,     // [B, L, hidden]
                       const at::Tensor& mask); // [L, L] additive (causal), or undefined
    Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};
    int64_t heads = 1;
};
TORCH_MODULE(CLIPAttention);

struct CLIPMLPImpl : torch::nn::Module {
    explicit CLIPMLPImpl(const CLIPTextConfig& config);
    at::Tensor forward(const at::Tensor& x); // [B, L, hidden]
    Linear fc1{nullptr}, fc2{nullptr};
    bool quick_gelu = true;
};
TORCH_MODULE(CLIPMLP);

/// Pre-LN residual block: x + attn(ln1(x)), then x + mlp(ln2(x)).
struct CLIPEncoderLayerImpl : torch::nn::Module {
    explicit CLIPEncoderLayerImpl(const CLIPTextConfig& config);
    at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);
    CLIPAttention self_attn{nullptr};
    LayerNorm layer_norm1{nullptr};
    CLIPMLP mlp{nullptr};
    LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(CLIPEncoderLayer);

struct CLIPEncoderImpl : torch::nn::Module {
    explicit CLIPEncoderImpl(const CLIPTextConfig& config);
    torch::nn::ModuleList layers{nullptr}; // CLIPEncoderLayer x num_hidden_layers
};
TORCH_MODULE(CLIPEncoder);

/// What one forward returns. Tensors are on the model's device, in its dtype.
struct CLIPTextOutput {
    at::Tensor last_hidden_state;          // [B, L, hidden], after final_layer_norm
    at::Tensor pooler_output;              // [B, hidden], last_hidden_state at the EOS token
    std::vector<at::Tensor> hidden_states; // num_hidden_layers + 1 of [B, L, hidden]: the
                                           // embeddings, then each layer (before the final norm);
                                           // empty unless output_hidden_states
};

struct CLIPTextTransformerImpl : torch::nn::Module {
    explicit CLIPTextTransformerImpl(const CLIPTextConfig& config);
    CLIPTextOutput forward(const at::Tensor& input_ids, bool output_hidden_states = false);
    CLIPTextEmbeddings embeddings{nullptr};
    CLIPEncoder encoder{nullptr};
    LayerNorm final_layer_norm{nullptr};
    int64_t eos_token_id = 2;
};
TORCH_MODULE(CLIPTextTransformer);

/// transformers' CLIPTextModel. Build under ParamInitScope(Empty) before loading weights, or
/// Meta to list names and shapes. forward is pure; input ids must be on the model's device.
class CLIPTextModelImpl : public torch::nn::Module {
public:
    explicit CLIPTextModelImpl(const CLIPTextConfig& config);

    /// input_ids: [B, L] int64 with L <= max_position_embeddings (77 from the tokenizer).
    CLIPTextOutput forward(const at::Tensor& input_ids, bool output_hidden_states = false);

    /// The conditioning for a clip_skip, counted the A1111 way ("Clip skip" in PNG parameters):
    /// 0 or 1 = last_hidden_state; k > 1 = final_layer_norm(hidden_states[-k]), i.e. the output
    /// of layer num_hidden_layers-k+1 (k = 2: the penultimate layer). diffusers' `clip_skip=c`
    /// equals k = c + 1 here. Needs `out` from forward(ids, true) when k > 1.
    /// Throws InvalidRequest for k < 0, k > num_hidden_layers or missing hidden states.
    at::Tensor encode_with_clip_skip(const CLIPTextOutput& out, int clip_skip);
    /// forward + encode_with_clip_skip: [B, L] ids -> [B, L, hidden].
    at::Tensor encode(const at::Tensor& input_ids, int clip_skip = 0);

    const CLIPTextConfig& config() const { return config_; }

    CLIPTextTransformer text_model{nullptr};

private:
    CLIPTextConfig config_;
};
TORCH_MODULE(CLIPTextModel);

/// Strict load of Hugging Face CLIPTextModel weights (load_into); the
/// `text_model.embeddings.position_ids` buffer some files carry is ignored. Throws ModelLoadError
/// prefixed with `what` (the file or component name).
void load_text_encoder_weights(CLIPTextModel& model, const StateDict& dict, const std::string& what);

} // namespace psa
