// SPDX-License-Identifier: GPL-3.0-or-later
// The per-category token layout (adapter/token_layout.h) as a constraint on the ordinary user
// projection: its weight is kept zero outside one column per token, so the adapter file keeps the
// reference's keys and shapes and every loader reads it unchanged.
#pragma once
#include "adapter/safety_adapter.h"

namespace psa {

/// [tokens x cross_dim, user_dim]: 1 where token c's rows meet column c, else 0. Tokens past the
/// categories (the sink token) read no column: they are their bias alone, the same for every user.
at::Tensor per_category_projection_mask(int64_t categories, int64_t tokens, int64_t cross_dim, int64_t user_dim);

/// Throws ConfigError unless `tokens` user tokens over a `user_dim`-wide embedding fit the layout
/// for `categories` categories: one token per category (reading its ban strength, feature c), and
/// at most one more, the sink token.
void check_per_category_tokens(int64_t categories, int64_t tokens, int64_t user_dim);

/// Zeroes the projection's weight outside the mask and masks its gradient from now on, so that an
/// optimizer whose update is zero for a zero gradient (AdamW from zero moments) keeps it there.
/// The weight must already require grad. The projection has one token per category, or one more:
/// the sink token (has_sink_token); check_per_category_tokens says what else it throws for.
void confine_to_per_category_tokens(UserProjectionImpl& projection, int64_t categories);

} // namespace psa
