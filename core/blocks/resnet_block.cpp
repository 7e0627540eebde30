// SPDX-License-Identifier: GPL-3.0-or-later
// Ported from the behaviour of diffusers 0.30 ResnetBlock2D (default "default" time embedding
// norm, SiLU), Downsample2D and Upsample2D (interpolate in float32 for bfloat16, as diffusers
// does, since nearest upsampling has no bf16 kernel on older torch).
#include "blocks/resnet_block.h"

#include <torch/torch.h>

namespace psa {

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetBlock2DOptions& o) : output_scale_factor(o.output_scale_factor)
{
    const int64_t out = o.out_channels > 0 ? o.out_channels : o.in_channels;
    norm1 = register_module("norm1", GroupNorm(o.groups, o.in_channels, o.eps));
    conv1 = register_module("conv1", Conv2d(o.in_channels, out, 3, 1, 1));
    if (o.temb_channels > 0)
        time_emb_proj = register_module("time_emb_proj", Linear(o.temb_channels, out));
    norm2 = register_module("norm2", GroupNorm(o.groups, out, o.eps));
    conv2 = register_module("conv2", Conv2d(out, out, 3, 1, 1));
    if (o.in_channels != out)
        conv_shortcut = register_module("conv_shortcut", Conv2d(o.in_channels, out, 1, 1, 0));
}

at::Tensor ResnetBlock2DImpl::forward(const at::Tensor& x, const at::Tensor& temb)
{
    auto h = conv1(torch::silu(norm1(x)));
    if (time_emb_proj && temb.defined())
        h = h + time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
    h = conv2(torch::silu(norm2(h)));
    const auto shortcut = conv_shortcut ? conv_shortcut(x) : x;
    auto out = shortcut + h;
    return output_scale_factor != 1.0 ? out / output_scale_factor : out;
}

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding_)
    : padding(padding_)
{
    conv = register_module("conv", Conv2d(channels, out_channels, 3, 2, padding_));
}

at::Tensor Downsample2DImpl::forward(const at::Tensor& x)
{
    if (padding == 0)
        return conv(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
    return conv(x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, int64_t out_channels)
{
    conv = register_module("conv", Conv2d(channels, out_channels, 3, 1, 1));
}

at::Tensor Upsample2DImpl::forward(const at::Tensor& x, at::IntArrayRef size)
{
    const auto dtype = x.scalar_type();
    auto h = dtype == torch::kBFloat16 ? x.to(torch::kFloat) : x;
    h = h.contiguous();
    if (size.empty())
        h = torch::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2});
    else
        h = torch::upsample_nearest2d(h, size);
    if (dtype == torch::kBFloat16)
        h = h.to(dtype);
    return conv(h);
}

} // namespace psa
