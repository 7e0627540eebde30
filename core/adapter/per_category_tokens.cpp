// SPDX-License-Identifier: GPL-3.0-or-later
#include "adapter/per_category_tokens.h"

#include "adapter/token_layout.h"
#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>

namespace psa {

at::Tensor per_category_projection_mask(int64_t categories, int64_t tokens, int64_t cross_dim, int64_t user_dim)
{
    auto mask = torch::zeros({tokens, cross_dim, user_dim});
    for (int64_t c = 0; c < std::min(categories, tokens); ++c)
        mask.select(0, c).select(1, c).fill_(1.0);
    return mask.reshape({tokens * cross_dim, user_dim});
}

void check_per_category_tokens(int64_t categories, int64_t tokens, int64_t user_dim)
{
    if ((tokens != categories && !has_sink_token(categories, tokens)) || user_dim < categories)
        throw ConfigError("per-category user tokens: the projection has " + std::to_string(tokens) +
                          " tokens over a " + std::to_string(user_dim) + "-wide embedding, for " +
                          std::to_string(categories) + " categories (one token each, and at most one sink token)");
}

void confine_to_per_category_tokens(UserProjectionImpl& projection, int64_t categories)
{
    auto& weight = projection.proj->weight;
    const int64_t user_dim = weight.size(1);
    const int64_t tokens = projection.num_tokens;
    check_per_category_tokens(categories, tokens, user_dim);
    const auto mask = per_category_projection_mask(categories, tokens, projection.cross_dim, user_dim).to(weight.options());
    {
        torch::NoGradGuard no_grad;
        weight.mul_(mask);
    }
    weight.register_hook([mask](const at::Tensor& grad) { return grad * mask; });
}

} // namespace psa
