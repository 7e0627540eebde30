// SPDX-License-Identifier: GPL-3.0-or-later
// Ban mixing (TrainConfig::ban_mixing), an augmentation of the per-category token layout. A pair's
// label (which image is chosen) depends only on whether its user bans the pair's own category, yet
// real users' bans come in blocks: in the demo world most users who ban Violence and Shocking also
// ban Sexuality. Trained on such users, the tokens learn the blocks, and a profile that breaks one
// (the L1 preset bans Violence and Shocking only) suppresses categories it allows. Giving the other
// categories the bans of another user of the set keeps every label and every marginal ban rate and
// removes the correlation between the pair's category and the rest.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace psa {

/// A structured profile encoding (profiles/profile_encoder.h: the first `categories` columns are
/// ban strengths) whose ban columns are `donor`'s except column `category`, which stays `own`'s;
/// the attribute columns stay `own`'s. own, donor: [user_dim] with user_dim >= categories.
at::Tensor mix_other_bans(const at::Tensor& own, const at::Tensor& donor, int64_t category, int64_t categories);

} // namespace psa
