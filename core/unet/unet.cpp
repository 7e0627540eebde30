// SPDX-License-Identifier: GPL-3.0-or-later
// Ported from the behaviour of diffusers 0.30 UNet2DConditionModel (unets/unet_2d_condition.py):
// block wiring and channel bookkeeping of __init__, and forward's timestep broadcast, skip
// connections and forward_upsample_size rule; get_timestep_embedding and TimestepEmbedding
// from embeddings.py.
#include "unet/unet.h"

#include "unet/attention.h"
#include "unet/blocks.h"

#include <torch/torch.h>

#include <cmath>

namespace psa {

TimestepsImpl::TimestepsImpl(int64_t dim_, bool flip, double shift)
    : dim(dim_), flip_sin_to_cos(flip), freq_shift(shift)
{
}

at::Tensor TimestepsImpl::forward(const at::Tensor& timesteps)
{
    TORCH_CHECK(timesteps.dim() == 1, "time_proj: timesteps must be [B], got ", timesteps.sizes());
    const int64_t half = dim / 2;
    // Same operation order as diffusers' get_timestep_embedding (max_period 10000, scale 1), in
    // float32 whatever the model dtype.
    auto exponent = torch::arange(0, half, torch::TensorOptions().dtype(torch::kFloat).device(timesteps.device())) *
                    (-std::log(10000.0));
    exponent = exponent / (static_cast<double>(half) - freq_shift);
    const auto freqs = torch::exp(exponent);                                       // [half]
    const auto args = timesteps.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0); // [B, half]
    auto emb = flip_sin_to_cos ? torch::cat({torch::cos(args), torch::sin(args)}, -1)
                               : torch::cat({torch::sin(args), torch::cos(args)}, -1); // [B, 2*half]
    if (dim % 2 == 1)
        emb = torch::constant_pad_nd(emb, {0, 1}, 0);
    return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim)
{
    linear_1 = register_module("linear_1", Linear(in_channels, time_embed_dim));
    linear_2 = register_module("linear_2", Linear(time_embed_dim, time_embed_dim));
}

at::Tensor TimestepEmbeddingImpl::forward(const at::Tensor& x) { return linear_2(torch::silu(linear_1(x))); }

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNet2DConditionConfig& c) : config_(c)
{
    c.validate();
    const size_t n = c.down_block_types.size();
    const auto& channels = c.block_out_channels;
    const int64_t temb = c.time_embed_dim();

    conv_in = register_module("conv_in", Conv2d(c.in_channels, channels[0], c.conv_in_kernel, 1,
                                                (c.conv_in_kernel - 1) / 2));
    time_proj = register_module("time_proj", Timesteps(channels[0], c.flip_sin_to_cos, double(c.freq_shift)));
    time_embedding = register_module("time_embedding", TimestepEmbedding(channels[0], temb));
    // diffusers creates both lists before the mid block, so the checkpoint (and attn_processors)
    // order is down_blocks, up_blocks, mid_block.
    down_blocks = register_module("down_blocks", torch::nn::ModuleList());
    up_blocks = register_module("up_blocks", torch::nn::ModuleList());

    auto options_for = [&](size_t block) {
        UNetBlockOptions o;
        o.temb_channels = temb;
        o.num_layers = c.layers(block);
        o.transformer_layers = c.transformer_layers(block);
        o.heads = c.heads(block);
        o.cross_attention_dim = c.cross_dim(block);
        o.groups = c.norm_num_groups;
        o.eps = c.norm_eps;
        o.downsample_padding = c.downsample_padding;
        o.use_linear_projection = c.use_linear_projection;
        o.upcast_attention = c.upcast_attention;
        return o;
    };

    int64_t out = channels[0];
    for (size_t i = 0; i < n; ++i) {
        auto o = options_for(i);
        o.in_channels = out;
        o.out_channels = out = channels[i];
        o.add_sampler = i + 1 < n;
        if (c.down_block_types[i] == "CrossAttnDownBlock2D") {
            CrossAttnDownBlock2D block(o);
            down_blocks->push_back(block);
            down_.push_back(block.ptr());
        } else {
            DownBlock2D block(o);
            down_blocks->push_back(block);
            down_.push_back(block.ptr());
        }
    }

    {
        auto o = options_for(n - 1);
        o.in_channels = o.out_channels = channels.back();
        o.num_layers = 1;
        o.output_scale_factor = c.mid_block_scale_factor;
        mid_block = register_module("mid_block", std::make_shared<UNetMidBlock2DCrossAttnImpl>(o));
    }

    out = channels.back();
    for (size_t i = 0; i < n; ++i) {
        const size_t level = n - 1 - i; // the down block this up block mirrors
        auto o = options_for(level);
        o.prev_output_channel = out;
        o.out_channels = out = channels[level];
        o.in_channels = channels[level == 0 ? 0 : level - 1];
        o.num_layers = c.layers(level) + 1;
        o.add_sampler = i + 1 < n;
        if (c.up_block_types[i] == "CrossAttnUpBlock2D") {
            CrossAttnUpBlock2D block(o);
            up_blocks->push_back(block);
            up_.push_back(block.ptr());
        } else {
            UpBlock2D block(o);
            up_blocks->push_back(block);
            up_.push_back(block.ptr());
        }
    }

    conv_norm_out = register_module("conv_norm_out", GroupNorm(c.norm_num_groups, channels[0], c.norm_eps));
    conv_out = register_module("conv_out", Conv2d(channels[0], c.out_channels, c.conv_out_kernel, 1,
                                                  (c.conv_out_kernel - 1) / 2));

    for (const auto& item : named_modules("", false))
        if (auto attn = std::dynamic_pointer_cast<AttentionImpl>(item.value()); attn && attn->is_cross_attention())
            cross_layers_.emplace_back(item.key(), attn);
}

std::vector<CrossAttentionLayerInfo> UNet2DConditionModelImpl::cross_attention_layers() const
{
    std::vector<CrossAttentionLayerInfo> out;
    for (const auto& [name, attn] : cross_layers_)
        out.push_back({name, attn->heads * attn->head_dim, attn->cross_attention_dim, attn->heads,
                       attn->to_q->weight.size(1)});
    return out;
}

std::vector<at::Tensor> UNet2DConditionModelImpl::text_attention_weights(TextAttentionMap map) const
{
    std::vector<at::Tensor> out;
    for (const auto& [name, attn] : cross_layers_)
        out.push_back((map == TextAttentionMap::Query ? attn->to_q : attn->to_k)->weight);
    return out;
}

void UNet2DConditionModelImpl::set_attention_hook(std::shared_ptr<AttentionHook> hook)
{
    hook_ = std::move(hook);
    for (size_t i = 0; i < cross_layers_.size(); ++i)
        cross_layers_[i].second->set_hook(hook_, static_cast<int>(i));
}

at::Tensor UNet2DConditionModelImpl::forward(const at::Tensor& sample, const at::Tensor& timestep,
                                             const at::Tensor& encoder_hidden_states,
                                             const at::Tensor& extra_context,
                                             std::map<std::string, at::Tensor>* intermediates)
{
    TORCH_CHECK(sample.dim() == 4 && sample.size(1) == config_.in_channels, "UNet: sample must be [B, ",
                config_.in_channels, ", H, W], got ", sample.sizes());
    TORCH_CHECK(encoder_hidden_states.dim() == 3 && encoder_hidden_states.size(0) == sample.size(0),
                "UNet: encoder_hidden_states must be [B, L, C] with B = ", sample.size(0), ", got ",
                encoder_hidden_states.sizes());
    const int64_t batch = sample.size(0);
    auto record = [&](const char* name, const at::Tensor& t) {
        if (intermediates)
            (*intermediates)[name] = t;
    };

    auto t = timestep.to(sample.device()).reshape({-1}); // 0-d -> [1]
    TORCH_CHECK(t.size(0) == 1 || t.size(0) == batch, "UNet: timestep must be 0-d, [1] or [", batch,
                "], got ", timestep.sizes());
    t = t.expand({batch});
    const auto t_emb = time_proj(t); // [B, C0] float32
    record("time_proj", t_emb);
    const auto emb = time_embedding(t_emb.to(sample.scalar_type())); // [B, time_embed_dim]
    record("time_embedding", emb);

    // Sizes not divisible by 2^(number of upsamplers) need explicit upsample sizes.
    const int64_t factor = int64_t(1) << (up_.size() - 1);
    const bool forward_upsample_size = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;

    auto h = config_.center_input_sample ? sample * 2.0 - 1.0 : sample;
    h = conv_in(h); // [B, C0, H, W]
    record("conv_in", h);
    std::vector<at::Tensor> skips{h};
    for (size_t i = 0; i < down_.size(); ++i) {
        h = down_[i]->forward(h, emb, encoder_hidden_states, extra_context, skips);
        if (intermediates)
            (*intermediates)["down_blocks." + std::to_string(i)] = h;
    }
    h = mid_block->forward(h, emb, encoder_hidden_states, extra_context);
    record("mid_block", h);
    for (size_t i = 0; i < up_.size(); ++i) {
        std::vector<int64_t> size;
        const size_t used = up_[i]->resnets->size();
        if (i + 1 < up_.size() && forward_upsample_size) {
            TORCH_CHECK(skips.size() > used, "UNet: skip connections exhausted");
            size = skips[skips.size() - used - 1].sizes().slice(2).vec();
        }
        h = up_[i]->forward(h, skips, emb, encoder_hidden_states, extra_context, size);
        if (intermediates)
            (*intermediates)["up_blocks." + std::to_string(i)] = h;
    }
    h = conv_norm_out(h);
    record("conv_norm_out", h);
    return conv_out(torch::silu(h)); // [B, out_channels, H, W]
}

} // namespace psa
