// SPDX-License-Identifier: GPL-3.0-or-later
// TrainConfig::token_start "captions" for a run: the data's captions, grouped by their line's
// category and encoded by the run's text encoder, give the starting tokens, and the UNet's
// cross-attention layers give the starting user key maps (adapter/caption_routed_tokens.h).
#pragma once
#include "adapter/caption_routed_tokens.h"

namespace psa {

struct ModelComponents;
class PreferenceDataset;

/// At most this many distinct captions per category are encoded (the first in the file's order):
/// a mean over more barely moves, and encoding stays a few seconds for a large dataset.
inline constexpr int kCaptionsPerCategoryForTokens = 256;

/// Starts `adapter` (per-category tokens, one per category of `data`) at the data's captions.
/// Returns what was used, for the log. Throws InvalidRequest when no pair names a category.
CaptionTokenStart start_tokens_at_captions(SafetyAdapterImpl& adapter, ModelComponents& model,
                                           const PreferenceDataset& data);

} // namespace psa
