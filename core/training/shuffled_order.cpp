// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/shuffled_order.h"

#include <utility>

namespace psa {

double uniform01(std::mt19937& rng) { return (rng() >> 8) * (1.0 / 16777216.0); }

int64_t next_shuffled_index(std::mt19937& rng, std::vector<int64_t>& order, size_t& order_pos, int64_t n)
{
    if (order_pos >= order.size()) {
        order.resize(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i)
            order[static_cast<size_t>(i)] = i;
        for (int64_t i = n - 1; i > 0; --i) {
            const uint32_t bound = static_cast<uint32_t>(i + 1);
            const uint32_t limit = 0xffffffffu - (0xffffffffu % bound);
            uint32_t r;
            do
                r = rng();
            while (r >= limit);
            std::swap(order[static_cast<size_t>(i)], order[r % bound]);
        }
        order_pos = 0;
    }
    return order[order_pos++];
}

} // namespace psa
