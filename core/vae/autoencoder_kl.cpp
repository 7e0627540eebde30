// SPDX-License-Identifier: GPL-3.0-or-later
// Ported from the behaviour of diffusers 0.30 autoencoders/autoencoder_kl.py and vae.py
// (DiagonalGaussianDistribution); the deprecated attention names are those handled by
// modeling_utils' _convert_deprecated_attention_blocks.
#include "vae/autoencoder_kl.h"

#include <torch/torch.h>

#include <array>
#include <string>
#include <utility>

namespace psa {

DiagonalGaussian DiagonalGaussian::from_moments(const at::Tensor& moments)
{
    TORCH_CHECK(moments.dim() == 4 && moments.size(1) % 2 == 0,
                "DiagonalGaussian: moments must be [B, 2*C, h, w], got ", moments.sizes());
    const auto parts = moments.chunk(2, 1);
    DiagonalGaussian d;
    d.mean = parts[0];
    d.logvar = parts[1].clamp(-30.0, 20.0);
    d.std = torch::exp(0.5 * d.logvar);
    return d;
}

at::Tensor DiagonalGaussian::sample(const at::Tensor& eps) const
{
    TORCH_CHECK(eps.sizes() == mean.sizes(), "DiagonalGaussian::sample: eps must be ", mean.sizes(),
                ", got ", eps.sizes());
    return mean + std * eps;
}

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& config) : config_(config)
{
    config_.validate("AutoencoderKLConfig");
    const auto latent = config_.latent_channels;
    encoder = register_module("encoder", VAEEncoder(config_));
    decoder = register_module("decoder", VAEDecoder(config_));
    if (config_.use_quant_conv)
        quant_conv = register_module("quant_conv", Conv2d(2 * latent, 2 * latent, 1));
    if (config_.use_post_quant_conv)
        post_quant_conv = register_module("post_quant_conv", Conv2d(latent, latent, 1));
}

at::Tensor AutoencoderKLImpl::encode_moments(const at::Tensor& image)
{
    const auto f = config_.downsample_factor();
    TORCH_CHECK(image.dim() == 4 && image.size(1) == config_.in_channels && image.size(2) % f == 0 &&
                    image.size(3) % f == 0,
                "AutoencoderKL::encode: image must be [B, ", config_.in_channels, ", H, W] with H, W multiples of ",
                f, ", got ", image.sizes());
    const auto moments = encoder(image); // [B, 2*latent, H/f, W/f]
    return quant_conv ? quant_conv(moments) : moments;
}

DiagonalGaussian AutoencoderKLImpl::encode(const at::Tensor& image)
{
    return DiagonalGaussian::from_moments(encode_moments(image));
}

at::Tensor AutoencoderKLImpl::decode(const at::Tensor& latents)
{
    TORCH_CHECK(latents.dim() == 4 && latents.size(1) == config_.latent_channels,
                "AutoencoderKL::decode: latents must be [B, ", config_.latent_channels, ", h, w], got ",
                latents.sizes());
    return decoder(post_quant_conv ? post_quant_conv(latents) : latents);
}

void load_vae_weights(AutoencoderKL& model, const StateDict& dict, const std::string& what)
{
    static const std::array<std::pair<const char*, const char*>, 4> kRenames{{
        {"query", "to_q"}, {"key", "to_k"}, {"value", "to_v"}, {"proj_attn", "to_out.0"}}};
    StateDict renamed;
    for (const auto& [name, tensor] : dict) {
        std::string target = name;
        const auto at = name.find(".attentions.");
        if (at != std::string::npos) {
            for (const auto& [old_name, new_name] : kRenames) {
                const std::string tail_w = std::string(".") + old_name + ".weight";
                const std::string tail_b = std::string(".") + old_name + ".bias";
                for (const auto& tail : {tail_w, tail_b}) {
                    if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
                        name.find('.', at + 12) == name.size() - tail.size()) {
                        target = name.substr(0, name.size() - tail.size()) + "." + new_name +
                                 tail.substr(tail.rfind('.'));
                    }
                }
            }
        }
        if (target != name && dict.count(target))
            target = name; // both spellings present: let the strict load report the old one
        renamed[target] = tensor;
    }
    load_into(*model, renamed, what);
}

} // namespace psa
