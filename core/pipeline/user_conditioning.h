// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "adapter/safety_adapter.h"
#include "profiles/profile.h"

#include <ATen/core/Tensor.h>

namespace psa {

/// The adapter's input for a profile, [user_dim] float32: our structured encoding when the
/// adapter was trained with it (in the adapter's own category order), or the precomputed
/// embedding file the profile names (reference adapters: 3584-d LLM embeddings). Throws
/// InvalidRequest naming the profile when the encoder needs what the profile lacks, or the widths
/// disagree.
at::Tensor profile_embedding(const SafetyAdapterConfig& adapter, const SafetyProfile& profile);

/// The category set an adapter was trained with (its metadata), else the built-in one.
CategorySet adapter_categories(const SafetyAdapterConfig& adapter);

} // namespace psa
