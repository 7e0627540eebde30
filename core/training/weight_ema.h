// SPDX-License-Identifier: GPL-3.0-or-later
// An exponential moving average (EMA) of some parameters: a shadow copy that follows them after
// every optimizer step, so that what a run exports does not hang on its last few batches. Shared
// by DPO runs (the adapter) and pretraining (the UNet).
#pragma once
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace psa {

class WeightEma {
public:
    /// No parameters: every call is a no-op.
    WeightEma() = default;
    /// Shadow copies of `sources` (each pair: the name the shadow is stored under, the parameter)
    /// at their current values. `decay` in (0, 1).
    WeightEma(const std::vector<std::pair<std::string, at::Tensor>>& sources, double decay);

    bool empty() const { return shadows_.empty(); }

    /// The decay of the update after `updates_done` optimizer steps (counting this one): diffusers'
    /// EMAModel warm-up min(decay, (1 + n) / (10 + n)), so that early shadows do not cling to the
    /// starting weights.
    double decay_at(int updates_done) const;

    /// shadow = d * shadow + (1 - d) * parameter, d = decay_at(updates_done).
    void update(int updates_done);

    /// Appends the shadows under their names (for a checkpoint).
    void append_to(NamedTensors& out) const;

    /// Copies the shadows stored by append_to() from `stored`; ModelLoadError naming `file` and the
    /// missing name or the differing shape.
    void load_from(const StateDict& stored, const std::string& file);

    /// While alive, the parameters hold the shadows' values (to save or sample the averaged
    /// weights); the trained values come back at its end.
    class SwappedIn {
    public:
        explicit SwappedIn(WeightEma& ema);
        ~SwappedIn();
        SwappedIn(const SwappedIn&) = delete;
        SwappedIn& operator=(const SwappedIn&) = delete;

    private:
        WeightEma& ema_;
        std::vector<at::Tensor> trained_;
    };

private:
    std::vector<std::pair<std::string, at::Tensor>> shadows_;
    std::vector<at::Tensor> sources_;
    double decay_ = 0;
};

} // namespace psa
