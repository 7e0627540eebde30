// SPDX-License-Identifier: GPL-3.0-or-later
// Ported from the behaviour of diffusers 0.30 autoencoders/vae.py (Encoder, Decoder),
// unets/unet_2d_blocks.py (DownEncoderBlock2D, UpDecoderBlock2D, UNetMidBlock2D) and
// attention_processor.py (Attention + AttnProcessor with group_norm, residual_connection and
// upcast_softmax). Every norm in the VAE uses eps 1e-6; registration order follows diffusers so
// named_parameters() lists the checkpoint's order.
#include "vae/vae_blocks.h"

#include "tensor_io/attention_kernel.h"

#include <torch/torch.h>

namespace psa {

namespace {

constexpr double kEps = 1e-6;

ResnetBlock2D make_resnet(int64_t in_channels, int64_t out_channels, int64_t groups)
{
    ResnetBlock2DOptions o;
    o.in_channels = in_channels;
    o.out_channels = out_channels;
    o.groups = groups;
    o.eps = kEps;
    return ResnetBlock2D(o);
}

} // namespace

VAEAttentionImpl::VAEAttentionImpl(int64_t channels, int64_t groups, double eps)
{
    group_norm = register_module("group_norm", GroupNorm(groups, channels, eps));
    to_q = register_module("to_q", Linear(channels, channels));
    to_k = register_module("to_k", Linear(channels, channels));
    to_v = register_module("to_v", Linear(channels, channels));
    to_out = register_module("to_out", torch::nn::ModuleList());
    to_out->push_back(Linear(channels, channels));
}

at::Tensor VAEAttentionImpl::forward(const at::Tensor& x)
{
    const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const auto h = group_norm(x).view({B, C, H * W}).transpose(1, 2); // [B, HW, C]
    auto q = to_q(h).unsqueeze(1), k = to_k(h).unsqueeze(1), v = to_v(h).unsqueeze(1); // [B, 1, HW, C]
    const auto dtype = q.scalar_type();
    const bool upcast = dtype == torch::kHalf || dtype == torch::kBFloat16;
    if (upcast) {
        q = q.to(torch::kFloat);
        k = k.to(torch::kFloat);
        v = v.to(torch::kFloat);
    }
    auto a = psa::scaled_dot_product_attention(q, k, v).squeeze(1); // [B, HW, C]
    if (upcast)
        a = a.to(dtype);
    a = to_out[0]->as<LinearImpl>()->forward(a);
    return a.transpose(1, 2).reshape({B, C, H, W}) + x;
}

VAEMidBlockImpl::VAEMidBlockImpl(int64_t channels, int64_t groups, bool add_attention)
{
    attentions = register_module("attentions", torch::nn::ModuleList());
    if (add_attention)
        attentions->push_back(VAEAttention(channels, groups, kEps));
    resnets = register_module("resnets", torch::nn::ModuleList());
    resnets->push_back(make_resnet(channels, channels, groups));
    resnets->push_back(make_resnet(channels, channels, groups));
}

at::Tensor VAEMidBlockImpl::forward(const at::Tensor& x)
{
    auto h = resnets[0]->as<ResnetBlock2DImpl>()->forward(x);
    if (!attentions->is_empty())
        h = attentions[0]->as<VAEAttentionImpl>()->forward(h);
    return resnets[1]->as<ResnetBlock2DImpl>()->forward(h);
}

DownEncoderBlock2DImpl::DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                               int64_t num_layers, int64_t groups, bool add_downsample)
{
    resnets = register_module("resnets", torch::nn::ModuleList());
    for (int64_t i = 0; i < num_layers; ++i)
        resnets->push_back(make_resnet(i == 0 ? in_channels : out_channels, out_channels, groups));
    if (add_downsample) {
        downsamplers = register_module("downsamplers", torch::nn::ModuleList());
        downsamplers->push_back(Downsample2D(out_channels, out_channels, /*padding=*/0));
    }
}

at::Tensor DownEncoderBlock2DImpl::forward(const at::Tensor& x)
{
    auto h = x;
    for (const auto& r : *resnets)
        h = r->as<ResnetBlock2DImpl>()->forward(h);
    if (downsamplers)
        h = downsamplers[0]->as<Downsample2DImpl>()->forward(h);
    return h;
}

UpDecoderBlock2DImpl::UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                           int64_t num_layers, int64_t groups, bool add_upsample)
{
    resnets = register_module("resnets", torch::nn::ModuleList());
    for (int64_t i = 0; i < num_layers; ++i)
        resnets->push_back(make_resnet(i == 0 ? in_channels : out_channels, out_channels, groups));
    if (add_upsample) {
        upsamplers = register_module("upsamplers", torch::nn::ModuleList());
        upsamplers->push_back(Upsample2D(out_channels, out_channels));
    }
}

at::Tensor UpDecoderBlock2DImpl::forward(const at::Tensor& x)
{
    auto h = x;
    for (const auto& r : *resnets)
        h = r->as<ResnetBlock2DImpl>()->forward(h);
    if (upsamplers)
        h = upsamplers[0]->as<Upsample2DImpl>()->forward(h);
    return h;
}

VAEEncoderImpl::VAEEncoderImpl(const AutoencoderKLConfig& c)
{
    const auto& ch = c.block_out_channels;
    const auto groups = c.norm_num_groups;
    conv_in = register_module("conv_in", Conv2d(c.in_channels, ch.front(), 3, 1, 1));
    down_blocks = register_module("down_blocks", torch::nn::ModuleList());
    for (size_t i = 0; i < ch.size(); ++i) {
        const bool last = i + 1 == ch.size();
        down_blocks->push_back(DownEncoderBlock2D(i == 0 ? ch.front() : ch[i - 1], ch[i],
                                                  c.layers_per_block, groups, !last));
    }
    mid_block = register_module("mid_block", VAEMidBlock(ch.back(), groups, c.mid_block_add_attention));
    conv_norm_out = register_module("conv_norm_out", GroupNorm(groups, ch.back(), kEps));
    conv_out = register_module("conv_out", Conv2d(ch.back(), 2 * c.latent_channels, 3, 1, 1));
}

at::Tensor VAEEncoderImpl::forward(const at::Tensor& image)
{
    auto h = conv_in(image); // [B, ch0, H, W]
    for (const auto& b : *down_blocks)
        h = b->as<DownEncoderBlock2DImpl>()->forward(h);
    h = mid_block(h);
    return conv_out(torch::silu(conv_norm_out(h)));
}

VAEDecoderImpl::VAEDecoderImpl(const AutoencoderKLConfig& c)
{
    const std::vector<int64_t> rev(c.block_out_channels.rbegin(), c.block_out_channels.rend());
    const auto groups = c.norm_num_groups;
    conv_in = register_module("conv_in", Conv2d(c.latent_channels, rev.front(), 3, 1, 1));
    // diffusers registers up_blocks before mid_block in the decoder.
    up_blocks = register_module("up_blocks", torch::nn::ModuleList());
    for (size_t i = 0; i < rev.size(); ++i) {
        const bool last = i + 1 == rev.size();
        up_blocks->push_back(UpDecoderBlock2D(i == 0 ? rev.front() : rev[i - 1], rev[i],
                                              c.layers_per_block + 1, groups, !last));
    }
    mid_block = register_module("mid_block", VAEMidBlock(rev.front(), groups, c.mid_block_add_attention));
    conv_norm_out = register_module("conv_norm_out", GroupNorm(groups, rev.back(), kEps));
    conv_out = register_module("conv_out", Conv2d(rev.back(), c.out_channels, 3, 1, 1));
}

at::Tensor VAEDecoderImpl::forward(const at::Tensor& z)
{
    auto h = conv_in(z); // [B, ch_last, h, w]
    h = mid_block(h);
    for (const auto& b : *up_blocks)
        h = b->as<UpDecoderBlock2DImpl>()->forward(h);
    return conv_out(torch::silu(conv_norm_out(h)));
}

} // namespace psa
