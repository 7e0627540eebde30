// SPDX-License-Identifier: GPL-3.0-or-later
// Private to world: images through a model's VAE and back, as a generated image would come out of
// it. What the judge reads in such round trips bounds what any UNet on that VAE can show it.
#pragma once
#include "common/progress.h"

#include <ATen/core/Tensor.h>

namespace psa {

struct ModelComponents;

/// images [N, 3, S, S] float32 in [0, 1] -> the VAE's decoding of their posterior means, at the
/// model's default image size, clamped to [0, 1] and quantized to 8 bits as a saved image is.
/// Runs on the model's device and dtype in batches; returns an undefined tensor when stopped.
at::Tensor vae_round_trip(ModelComponents& model, const at::Tensor& images, JobControl& job);

} // namespace psa
