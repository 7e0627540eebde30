// SPDX-License-Identifier: GPL-3.0-or-later
// A start for the per-category user tokens that ties each token to its category's words.
//
// A fresh adapter's user key maps are zero, so every image position starts by attending to all
// category tokens alike, and the routing from a motif's place to its own category's token has to
// be learned from the DPO signal alone. In the demo world that learning is what fails: with
// different seeds or terms, one or two categories' tokens come out weak or the wrong way round,
// and banned tokens reach the places of allowed motifs (docs/demo-model.md, "Sixteenth round").
// The text attention already knows where each word's content goes. Starting token c at the text
// embedding of category c's captions, and each layer's user key map at that layer's text key map,
// gives every position at the start a user attention that prefers the categories whose words it
// attends to in the prompt. The value maps stay zero, so the new adapter still changes nothing.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

namespace psa {

struct SafetyAdapterImpl;

/// The starting tokens and how they were made (for the log).
struct CaptionTokenStart {
    at::Tensor tokens;           ///< [C, D]: common + contrast_scale * (category mean - common)
    at::Tensor common;           ///< [D]: the mean of the category means; where a sink token starts
    double contrast_scale = 1.0; ///< spread of single captions over spread between categories, >= 1
    int categories_without_captions = 0; ///< those start at the common part alone
};

/// `caption_embeddings[c]`: the text encoder's output for category c's captions, [N_c, L, D]
/// (an undefined or empty tensor when the data has none). Each category's mean embedding is taken
/// over its captions and positions; `common` is the mean of those means. What sets a category
/// apart is a small part of a caption (its concept words), so the differences are scaled up until
/// they spread as far as single captions spread about `common`: a caption's mean stands for one
/// prompt, and the user attention should tell categories apart as clearly as the prompts differ.
/// Throws InvalidRequest when no category has captions or the widths differ.
CaptionTokenStart caption_category_tokens(const std::vector<at::Tensor>& caption_embeddings);

/// Starts a per-category adapter at `tokens` [C, D]: user_proj's bias holds token c in token c's
/// slot, the LayerNorm's gain and shift are set so that it returns the tokens nearly unchanged,
/// and every layer's user key map is a copy of that layer's text key map `text_key_weights[l]`
/// ([inner, D], the UNet's attn2.to_k). Value maps are left as they are (zero in a new adapter).
/// Throws InvalidRequest when the counts or shapes do not fit the adapter.
void start_user_tokens_at(SafetyAdapterImpl& adapter, const at::Tensor& tokens,
                          const std::vector<at::Tensor>& text_key_weights);

} // namespace psa
