// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/progress.h"

namespace psa {

const char* stage_name(Stage stage)
{
    switch (stage) {
    case Stage::Load: return "load";
    case Stage::Encode: return "encode";
    case Stage::Denoise: return "denoise";
    case Stage::Decode: return "decode";
    case Stage::Save: return "save";
    case Stage::Train: return "train";
    case Stage::Checkpoint: return "checkpoint";
    case Stage::Evaluate: return "evaluate";
    case Stage::Other: return "work";
    }
    return "work";
}

JobControl::JobControl(std::stop_token stop, ProgressFn on_progress)
    : stop_(std::move(stop)), on_progress_(std::move(on_progress))
{
}

void JobControl::report(Stage stage, int step, int total, std::string detail)
{
    const auto now = std::chrono::steady_clock::now();
    // A new stage, or a stage that restarted from a lower step, restarts the clock; the rate is
    // measured from the first report so that set-up time before step 1 is not counted.
    if (stage != clock_stage_ || step < clock_step_ || clock_step_ < 0) {
        clock_stage_ = stage;
        clock_step_ = step;
        clock_start_ = now;
    }
    Progress p;
    p.stage = stage;
    p.step = step;
    p.total = total;
    p.detail = std::move(detail);
    const double elapsed = std::chrono::duration<double>(now - clock_start_).count();
    const int done = step - clock_step_;
    if (done > 0 && elapsed > 0.0) {
        p.rate_per_second = done / elapsed;
        p.eta_seconds = (total - step) / p.rate_per_second;
    }
    if (on_progress_)
        on_progress_(p);
}

} // namespace psa
