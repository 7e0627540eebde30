// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/caption_token_start.h"

#include "adapter/safety_adapter.h"
#include "adapter/token_layout.h"
#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/prompt_encoding.h"
#include "training/preference_dataset.h"

#include <torch/torch.h>

#include <set>

namespace psa {

CaptionTokenStart start_tokens_at_captions(SafetyAdapterImpl& adapter, ModelComponents& model,
                                           const PreferenceDataset& data)
{
    const auto& categories = data.categories();
    std::vector<std::vector<std::string>> captions(categories.size());
    std::vector<std::set<std::string>> seen(categories.size());
    for (const auto& p : data.pairs()) {
        const int c = categories.index_of(p.category);
        if (c < 0 || p.caption.empty())
            continue;
        auto& list = captions[static_cast<size_t>(c)];
        if (static_cast<int>(list.size()) < kCaptionsPerCategoryForTokens &&
            seen[static_cast<size_t>(c)].insert(p.caption).second)
            list.push_back(p.caption);
    }
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> embeddings(categories.size());
    constexpr size_t kBatch = 32;
    for (size_t c = 0; c < captions.size(); ++c) {
        std::vector<at::Tensor> parts;
        for (size_t i = 0; i < captions[c].size(); i += kBatch) {
            const std::vector<std::string> chunk(captions[c].begin() + static_cast<std::ptrdiff_t>(i),
                                                 captions[c].begin() +
                                                     static_cast<std::ptrdiff_t>(std::min(i + kBatch, captions[c].size())));
            parts.push_back(encode_prompts(model, chunk, 0).to(torch::kCPU, torch::kFloat));
        }
        if (!parts.empty())
            embeddings[c] = torch::cat(parts);
    }
    auto start = caption_category_tokens(embeddings);

    // The text key map of every cross-attention layer, in the adapter's layer order.
    std::vector<at::Tensor> keys;
    for (const auto& key : model.unet->text_attention_weights(UNet2DConditionModelImpl::TextAttentionMap::Key))
        keys.push_back(key.detach().to(torch::kCPU, torch::kFloat));
    // The sink token starts at what all categories' captions share (scene and subject words): the
    // places of those start out attending to it about as much as to any category's token.
    const auto tokens = has_sink_token(static_cast<int64_t>(categories.size()), adapter.user_proj->num_tokens)
                            ? torch::cat({start.tokens, start.common.unsqueeze(0)})
                            : start.tokens;
    start_user_tokens_at(adapter, tokens, keys);
    return start;
}

} // namespace psa
