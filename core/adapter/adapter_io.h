// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "adapter/safety_adapter.h"

#include <filesystem>

namespace psa {

/// Loads an adapter in the reference key layout (user_proj.*, psa_adapter.N.to_{k,v}_user.0.weight;
/// N in the UNet's attention-processor order) with or without our metadata. The shape of the
/// file decides user_dim, num_tokens and the layer widths; it must fit `unet_layers` (else
/// ModelLoadError saying what does not fit). The reference's files carry no metadata: their
/// profile encoder is recorded as "precomputed" (LLM embeddings from .npy files).
SafetyAdapter load_adapter(const std::filesystem::path& path,
                           const std::vector<CrossAttentionLayerInfo>& unet_layers);

/// Writes the adapter atomically in the reference layout, in float32, with metadata naming the
/// profile encoder and its version, user_dim, num_tokens, the categories and the base model.
void save_adapter(const std::filesystem::path& path, SafetyAdapterImpl& adapter);

} // namespace psa
