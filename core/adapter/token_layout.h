// SPDX-License-Identifier: GPL-3.0-or-later
// How an adapter's user tokens read the profile embedding (torch-free: the training config, the
// file header reader and the UI name layouts with it).
#pragma once
#include <cstdint>
#include <string>

namespace psa {

/// Every token is a dense linear map of the whole embedding (the reference's PSAProjection).
inline constexpr const char* kDenseTokens = "dense";
/// One token per category of the structured profile encoder; token c reads only that category's
/// ban strength (feature c) plus its own bias. The user attention can then place a category's
/// suppression where that category's content is, and the adapter cannot key on the attributes
/// that merely predicted the bans of its training users (PSA.md "do better" 1).
inline constexpr const char* kPerCategoryTokens = "per-category";

/// The per-category layout may end in one more token than categories; see has_sink_token.
inline bool is_token_layout(const std::string& name) { return name == kDenseTokens || name == kPerCategoryTokens; }

/// Whether a per-category adapter of `tokens` tokens over `categories` categories ends in the sink
/// token: a token that reads no ban, where a place with nothing to suppress can send its user
/// attention. Without it the softmax over the category tokens makes every place read some
/// category's token, and when a user bans every category each of them suppresses something.
inline bool has_sink_token(int64_t categories, int64_t tokens) { return tokens == categories + 1; }
/// How tables and the UI name the sink token.
inline constexpr const char* kSinkTokenLabel = "(no category)";

} // namespace psa
