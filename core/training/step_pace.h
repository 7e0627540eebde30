// SPDX-License-Identifier: GPL-3.0-or-later
// The speed and time left that DPO runs and pretraining stages report after each step.
#pragma once

namespace psa {

struct StepPace {
    double steps_per_second = 0; ///< over this sitting (a resumed run counts from its resume)
    double eta_seconds = -1;     ///< -1 while unknown
};

/// Pace after `steps_this_sitting` steps in `sitting_seconds`, with `steps_left` to go.
inline StepPace step_pace(double sitting_seconds, int steps_this_sitting, int steps_left)
{
    StepPace p;
    p.steps_per_second = sitting_seconds > 0 ? steps_this_sitting / sitting_seconds : 0.0;
    p.eta_seconds = p.steps_per_second > 0 ? steps_left / p.steps_per_second : -1.0;
    return p;
}

} // namespace psa
