// SPDX-License-Identifier: GPL-3.0-or-later
// diffusers' AutoencoderKL: image <-> latents for SD1.x/SDXL. Parameter names equal the diffusers
// checkpoint keys (encoder.*, decoder.*, quant_conv.*, post_quant_conv.*).
#pragma once
#include "tensor_io/layers.h"
#include "tensor_io/state_dict.h"
#include "vae/vae_blocks.h"
#include "vae/vae_config.h"

#include <string>

namespace psa {

/// The encoder's posterior N(mean, std^2), from quant_conv's moments [B, 2*latent, h, w].
struct DiagonalGaussian {
    at::Tensor mean;   // [B, latent, h, w]
    at::Tensor logvar; // [B, latent, h, w], clamped to [-30, 20]
    at::Tensor std;    // exp(0.5 * logvar)

    static DiagonalGaussian from_moments(const at::Tensor& moments);
    /// mean + std * eps, with caller-supplied standard normal noise of the same shape.
    at::Tensor sample(const at::Tensor& eps) const;
};

/// Build under ParamInitScope(Empty) before loading weights, or Meta to list names and shapes.
/// Methods are pure; inputs must be on the model's device and in its dtype. Latents here are raw:
/// the pipeline multiplies by scaling_factor() after encoding and divides before decoding.
class AutoencoderKLImpl : public torch::nn::Module {
public:
    explicit AutoencoderKLImpl(const AutoencoderKLConfig& config);

    /// image [B, in_channels, H, W] in [-1, 1], H and W multiples of downsample_factor()
    /// -> moments [B, 2*latent_channels, H/f, W/f] (quant_conv output: mean, then logvar).
    at::Tensor encode_moments(const at::Tensor& image);
    DiagonalGaussian encode(const at::Tensor& image);
    /// latents [B, latent_channels, h, w] (unscaled) -> image [B, out_channels, h*f, w*f],
    /// nominally in [-1, 1] (not clamped).
    at::Tensor decode(const at::Tensor& latents);

    double scaling_factor() const { return config_.scaling_factor; }
    const AutoencoderKLConfig& config() const { return config_; }

    VAEEncoder encoder{nullptr};
    VAEDecoder decoder{nullptr};
    Conv2d quant_conv{nullptr};      // 1x1, absent with use_quant_conv false
    Conv2d post_quant_conv{nullptr}; // 1x1, absent with use_post_quant_conv false

private:
    AutoencoderKLConfig config_;
};
TORCH_MODULE(AutoencoderKL);

/// Strict load of diffusers-layout VAE weights (load_into). Files written by diffusers before
/// 0.14 name the mid-block attention query/key/value/proj_attn; those are accepted and read as
/// to_q/to_k/to_v/to_out.0 (as diffusers itself does). Throws ModelLoadError prefixed with `what`.
void load_vae_weights(AutoencoderKL& model, const StateDict& dict, const std::string& what);

} // namespace psa
