// SPDX-License-Identifier: GPL-3.0-or-later
// Ported from the behaviour of diffusers 0.30 CrossAttnDownBlock2D, DownBlock2D,
// UNetMidBlock2DCrossAttn, UpBlock2D and CrossAttnUpBlock2D (unets/unet_2d_blocks.py). Attentions
// are registered before resnets, as there, so parameter order equals the checkpoint's.
#include "unet/blocks.h"

#include "unet/attention.h"

#include <torch/torch.h>

namespace psa {

namespace {

ResnetBlock2D make_resnet(const UNetBlockOptions& o, int64_t in, int64_t out)
{
    ResnetBlock2DOptions r;
    r.in_channels = in;
    r.out_channels = out;
    r.temb_channels = o.temb_channels;
    r.groups = o.groups;
    r.eps = o.eps;
    r.output_scale_factor = o.output_scale_factor;
    return ResnetBlock2D(r);
}

Transformer2DModel make_transformer(const UNetBlockOptions& o, int64_t channels)
{
    Transformer2DOptions t;
    t.heads = o.heads;
    t.head_dim = channels / o.heads; // SD 1.x: attention_head_dim is the head count
    t.in_channels = channels;
    t.num_layers = o.transformer_layers;
    t.cross_attention_dim = o.cross_attention_dim;
    t.norm_num_groups = o.groups;
    t.use_linear_projection = o.use_linear_projection;
    t.upcast_attention = o.upcast_attention;
    return Transformer2DModel(t);
}

at::Tensor run_transformer(torch::nn::ModuleList attentions, size_t i, const at::Tensor& x,
                           const at::Tensor& context, const at::Tensor& extra_context)
{
    return attentions[i]->as<Transformer2DModelImpl>()->forward(x, context, extra_context);
}

at::Tensor run_resnet(torch::nn::ModuleList resnets, size_t i, const at::Tensor& x, const at::Tensor& temb)
{
    return resnets[i]->as<ResnetBlock2DImpl>()->forward(x, temb);
}

} // namespace

// ---- down ----

void UNetDownBlockImpl::build(const UNetBlockOptions& o, bool cross_attention)
{
    if (cross_attention)
        attentions = register_module("attentions", torch::nn::ModuleList());
    resnets = register_module("resnets", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.num_layers; ++i) {
        resnets->push_back(make_resnet(o, i == 0 ? o.in_channels : o.out_channels, o.out_channels));
        if (cross_attention)
            attentions->push_back(make_transformer(o, o.out_channels));
    }
    if (o.add_sampler) {
        downsamplers = register_module("downsamplers", torch::nn::ModuleList());
        downsamplers->push_back(Downsample2D(o.out_channels, o.out_channels, o.downsample_padding));
    }
}

at::Tensor UNetDownBlockImpl::forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                                      const at::Tensor& extra_context, std::vector<at::Tensor>& skips)
{
    auto h = x;
    for (size_t i = 0; i < resnets->size(); ++i) {
        h = run_resnet(resnets, i, h, temb);
        if (attentions)
            h = run_transformer(attentions, i, h, context, extra_context);
        skips.push_back(h);
    }
    if (downsamplers) {
        h = downsamplers[0]->as<Downsample2DImpl>()->forward(h);
        skips.push_back(h);
    }
    return h;
}

// ---- mid ----

UNetMidBlock2DCrossAttnImpl::UNetMidBlock2DCrossAttnImpl(const UNetBlockOptions& o)
{
    attentions = register_module("attentions", torch::nn::ModuleList());
    resnets = register_module("resnets", torch::nn::ModuleList());
    resnets->push_back(make_resnet(o, o.in_channels, o.in_channels));
    for (int64_t i = 0; i < o.num_layers; ++i) {
        attentions->push_back(make_transformer(o, o.in_channels));
        resnets->push_back(make_resnet(o, o.in_channels, o.in_channels));
    }
}

at::Tensor UNetMidBlock2DCrossAttnImpl::forward(const at::Tensor& x, const at::Tensor& temb,
                                                const at::Tensor& context, const at::Tensor& extra_context)
{
    auto h = run_resnet(resnets, 0, x, temb);
    for (size_t i = 0; i < attentions->size(); ++i) {
        h = run_transformer(attentions, i, h, context, extra_context);
        h = run_resnet(resnets, i + 1, h, temb);
    }
    return h;
}

// ---- up ----

void UNetUpBlockImpl::build(const UNetBlockOptions& o, bool cross_attention)
{
    if (cross_attention)
        attentions = register_module("attentions", torch::nn::ModuleList());
    resnets = register_module("resnets", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.num_layers; ++i) {
        // diffusers: the last resnet's skip comes from the block one level up (in_channels).
        const int64_t skip = i == o.num_layers - 1 ? o.in_channels : o.out_channels;
        const int64_t in = i == 0 ? o.prev_output_channel : o.out_channels;
        resnets->push_back(make_resnet(o, in + skip, o.out_channels));
        if (cross_attention)
            attentions->push_back(make_transformer(o, o.out_channels));
    }
    if (o.add_sampler) {
        upsamplers = register_module("upsamplers", torch::nn::ModuleList());
        upsamplers->push_back(Upsample2D(o.out_channels, o.out_channels));
    }
}

at::Tensor UNetUpBlockImpl::forward(const at::Tensor& x, std::vector<at::Tensor>& skips, const at::Tensor& temb,
                                    const at::Tensor& context, const at::Tensor& extra_context,
                                    at::IntArrayRef upsample_size)
{
    TORCH_CHECK(skips.size() >= resnets->size(), "up block needs ", resnets->size(), " skip connections, ",
                skips.size(), " left");
    auto h = x;
    for (size_t i = 0; i < resnets->size(); ++i) {
        h = torch::cat({h, skips.back()}, 1); // [B, C + C_skip, H, W]
        skips.pop_back();
        h = run_resnet(resnets, i, h, temb);
        if (attentions)
            h = run_transformer(attentions, i, h, context, extra_context);
    }
    if (upsamplers)
        h = upsamplers[0]->as<Upsample2DImpl>()->forward(h, upsample_size);
    return h;
}

} // namespace psa
