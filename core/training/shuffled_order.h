// SPDX-License-Identifier: GPL-3.0-or-later
// The replayable draws of a training loop, shared by DPO runs and demo-model pretraining: our own
// arithmetic on mt19937 words (the standard distributions differ between libraries, and a run
// must replay identically wherever it resumes), and epoch-wise shuffled data order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace psa {

/// A draw in [0, 1) from the top 24 bits of one mt19937 word.
double uniform01(std::mt19937& rng);

/// order[order_pos++]; when the pass is used up, first refills `order` with 0..n-1 shuffled by
/// Fisher-Yates (rejection sampling, so no modulo bias) and restarts at 0.
int64_t next_shuffled_index(std::mt19937& rng, std::vector<int64_t>& order, size_t& order_pos, int64_t n);

} // namespace psa
