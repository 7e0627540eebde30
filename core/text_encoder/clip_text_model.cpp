// SPDX-License-Identifier: GPL-3.0-or-later
// Written from the semantics of transformers' modeling_clip.py (CLIPTextTransformer with its
// causal mask; pooled output by argmax for the legacy eos_token_id == 2) and openai/CLIP model.py.
#include "text_encoder/clip_text_model.h"

#include "common/error.h"
#include "tensor_io/attention_kernel.h"

#include <torch/torch.h>

#include <limits>

namespace psa {

CLIPTextEmbeddingsImpl::CLIPTextEmbeddingsImpl(const CLIPTextConfig& c)
{
    token_embedding = register_module("token_embedding", Embedding(c.vocab_size, c.hidden_size));
    position_embedding =
        register_module("position_embedding", Embedding(c.max_position_embeddings, c.hidden_size));
}

at::Tensor CLIPTextEmbeddingsImpl::forward(const at::Tensor& input_ids)
{
    const auto positions = torch::arange(input_ids.size(1), input_ids.options()); // [L]
    return token_embedding(input_ids) + position_embedding(positions).unsqueeze(0);
}

CLIPAttentionImpl::CLIPAttentionImpl(const CLIPTextConfig& c) : heads(c.num_attention_heads)
{
    // Registration order follows transformers (k, v, q, out) so named_parameters() lists the
    // checkpoint's order.
    k_proj = register_module("k_proj", Linear(c.hidden_size, c.hidden_size));
    v_proj = register_module("v_proj", Linear(c.hidden_size, c.hidden_size));
    q_proj = register_module("q_proj", Linear(c.hidden_size, c.hidden_size));
    out_proj = register_module("out_proj", Linear(c.hidden_size, c.hidden_size));
}

at::Tensor CLIPAttentionImpl::forward(const at::Tensor& x, const at::Tensor& mask)
{
    const auto B = x.size(0), L = x.size(1), C = x.size(2);
    const auto split = [&](const at::Tensor& t) { // [B, L, C] -> [B, heads, L, C/heads]
        return t.view({B, L, heads, C / heads}).transpose(1, 2);
    };
    const auto a = psa::scaled_dot_product_attention(split(q_proj(x)), split(k_proj(x)), split(v_proj(x)), mask);
    return out_proj(a.transpose(1, 2).reshape({B, L, C}));
}

CLIPMLPImpl::CLIPMLPImpl(const CLIPTextConfig& c) : quick_gelu(c.hidden_act == "quick_gelu")
{
    fc1 = register_module("fc1", Linear(c.hidden_size, c.intermediate_size));
    fc2 = register_module("fc2", Linear(c.intermediate_size, c.hidden_size));
}

at::Tensor CLIPMLPImpl::forward(const at::Tensor& x)
{
    auto h = fc1(x);
    h = quick_gelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
    return fc2(h);
}

CLIPEncoderLayerImpl::CLIPEncoderLayerImpl(const CLIPTextConfig& c)
{
    self_attn = register_module("self_attn", CLIPAttention(c));
    layer_norm1 = register_module("layer_norm1", LayerNorm(c.hidden_size, c.layer_norm_eps));
    mlp = register_module("mlp", CLIPMLP(c));
    layer_norm2 = register_module("layer_norm2", LayerNorm(c.hidden_size, c.layer_norm_eps));
}

at::Tensor CLIPEncoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& mask)
{
    const auto h = x + self_attn(layer_norm1(x), mask);
    return h + mlp(layer_norm2(h));
}

CLIPEncoderImpl::CLIPEncoderImpl(const CLIPTextConfig& c)
{
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.num_hidden_layers; ++i)
        layers->push_back(CLIPEncoderLayer(c));
}

CLIPTextTransformerImpl::CLIPTextTransformerImpl(const CLIPTextConfig& c) : eos_token_id(c.eos_token_id)
{
    embeddings = register_module("embeddings", CLIPTextEmbeddings(c));
    encoder = register_module("encoder", CLIPEncoder(c));
    final_layer_norm = register_module("final_layer_norm", LayerNorm(c.hidden_size, c.layer_norm_eps));
}

CLIPTextOutput CLIPTextTransformerImpl::forward(const at::Tensor& input_ids, bool output_hidden_states)
{
    TORCH_CHECK(input_ids.dim() == 2, "CLIP text encoder: input_ids must be [B, L], got ",
                input_ids.sizes());
    TORCH_CHECK(input_ids.scalar_type() == torch::kLong, "CLIP text encoder: input_ids must be int64, got ",
                input_ids.scalar_type());
    const auto max_len = embeddings->position_embedding->weight.size(0);
    TORCH_CHECK(input_ids.size(1) <= max_len, "CLIP text encoder: ", input_ids.size(1),
                " tokens exceed max_position_embeddings ", max_len);

    CLIPTextOutput out;
    auto h = embeddings(input_ids); // [B, L, hidden]
    const auto L = h.size(1);
    // Causal additive mask: token i sees tokens 0..i only.
    const auto mask = torch::full({L, L}, -std::numeric_limits<float>::infinity(), h.options()).triu(1); // [L, L]
    if (output_hidden_states)
        out.hidden_states.push_back(h);
    for (const auto& layer : *encoder->layers) {
        h = layer->as<CLIPEncoderLayerImpl>()->forward(h, mask);
        if (output_hidden_states)
            out.hidden_states.push_back(h);
    }
    out.last_hidden_state = final_layer_norm(h);

    // Legacy configs (eos_token_id == 2, SD1.x) pool at argmax(ids): CLIP's EOS 49407 is the
    // largest id, so this is the first EOS. Newer configs name the EOS id explicitly.
    const auto eos_index = eos_token_id == 2 ? input_ids.argmax(-1)
                                             : input_ids.eq(eos_token_id).to(torch::kInt).argmax(-1); // [B]
    const auto batch = torch::arange(input_ids.size(0), input_ids.options());               // [B]
    out.pooler_output = out.last_hidden_state.index({batch, eos_index});                    // [B, hidden]
    return out;
}

CLIPTextModelImpl::CLIPTextModelImpl(const CLIPTextConfig& config) : config_(config)
{
    config_.validate("CLIPTextConfig");
    text_model = register_module("text_model", CLIPTextTransformer(config_));
}

CLIPTextOutput CLIPTextModelImpl::forward(const at::Tensor& input_ids, bool output_hidden_states)
{
    return text_model(input_ids, output_hidden_states);
}

at::Tensor CLIPTextModelImpl::encode_with_clip_skip(const CLIPTextOutput& out, int clip_skip)
{
    if (clip_skip < 0 || clip_skip > config_.num_hidden_layers)
        throw InvalidRequest("clip_skip " + std::to_string(clip_skip) + " is outside 0.." +
                             std::to_string(config_.num_hidden_layers) + " (the text encoder's layer count)");
    if (clip_skip <= 1)
        return out.last_hidden_state;
    if (out.hidden_states.size() != size_t(config_.num_hidden_layers + 1))
        throw InvalidRequest("clip_skip " + std::to_string(clip_skip) +
                             " needs the hidden states: call forward(ids, /*output_hidden_states=*/true)");
    return text_model->final_layer_norm(out.hidden_states[out.hidden_states.size() - size_t(clip_skip)]);
}

at::Tensor CLIPTextModelImpl::encode(const at::Tensor& input_ids, int clip_skip)
{
    return encode_with_clip_skip(forward(input_ids, clip_skip > 1), clip_skip);
}

void load_text_encoder_weights(CLIPTextModel& model, const StateDict& dict, const std::string& what)
{
    LoadOptions options;
    options.ignore_unexpected = [](const std::string& name) {
        return name == "text_model.embeddings.position_ids";
    };
    load_into(*model, dict, what, options);
}

} // namespace psa
