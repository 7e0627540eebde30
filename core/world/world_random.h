// SPDX-License-Identifier: GPL-3.0-or-later
// The world's random numbers: our own SplitMix64 and our own mappings to ranges, because the
// standard distributions differ between library implementations and "same seed, same bytes" must
// hold on every machine.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace psa {

class WorldRng {
public:
    explicit WorldRng(std::uint64_t seed) : state_(seed) {}

    /// A seed derived from a seed and a path of indices (stream splitting: renders stay the
    /// same when an unrelated count changes).
    static std::uint64_t derive(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0)
    {
        WorldRng r(seed ^ 0x9e3779b97f4a7c15ull * (a + 1));
        r.next();
        r.state_ ^= 0xbf58476d1ce4e5b9ull * (b + 1);
        r.next();
        r.state_ ^= 0x94d049bb133111ebull * (c + 1);
        return r.next();
    }

    std::uint64_t next()
    {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    /// [0, 1)
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    /// [lo, hi)
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// [0, n); n > 0
    int below(int n) { return static_cast<int>(uniform() * n); }
    bool chance(double p) { return uniform() < p; }
    /// An index drawn with the given non-negative weights (not all zero).
    int weighted(const std::vector<double>& weights)
    {
        double total = 0;
        for (double w : weights)
            total += w;
        double x = uniform() * total;
        for (size_t i = 0; i < weights.size(); ++i) {
            if (x < weights[i])
                return static_cast<int>(i);
            x -= weights[i];
        }
        return static_cast<int>(weights.size()) - 1;
    }
    template <class T>
    void shuffle(std::vector<T>& v)
    {
        for (size_t i = v.size(); i > 1; --i)
            std::swap(v[i - 1], v[static_cast<size_t>(below(static_cast<int>(i)))]);
    }

private:
    std::uint64_t state_;
};

} // namespace psa
