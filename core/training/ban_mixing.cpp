// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/ban_mixing.h"

#include "common/error.h"

#include <torch/torch.h>

#include <string>

namespace psa {

at::Tensor mix_other_bans(const at::Tensor& own, const at::Tensor& donor, int64_t category, int64_t categories)
{
    if (own.dim() != 1 || !own.sizes().equals(donor.sizes()) || own.size(0) < categories || category < 0 ||
        category >= categories)
        throw InvalidRequest("ban mixing: category " + std::to_string(category) + " of " + std::to_string(categories) +
                             " does not fit user rows of " + std::to_string(own.numel()) + " and " +
                             std::to_string(donor.numel()) + " values");
    auto mixed = own.clone();
    mixed.slice(0, 0, categories).copy_(donor.slice(0, 0, categories));
    mixed[category] = own[category];
    return mixed;
}

} // namespace psa
