// SPDX-License-Identifier: GPL-3.0-or-later
// What `psa train`, `psa world train-adapter` and `psa world train-base` print on stderr about a training run: times as
// clock text, the end of the one-line progress display, and where a stopped run can continue.
#pragma once
#include <filesystem>
#include <string>

namespace psa::app {

/// Exit status of a sitting that ended at its time budget: nothing failed, more remains to do
/// (continue with --resume).
constexpr int kExitBudgetReached = 75;

/// "m:ss" or "h:mm:ss", rounded to the second; "?" for a negative (unknown) time.
std::string clock_text(double seconds);

/// Ends the \r-rewritten progress line with a newline once the last step is shown; flushes stderr.
void finish_progress_line(int step, int total_steps);

/// "\n<what> at step N/M; checkpoint PATH (continue with --resume)\n" on stderr; the checkpoint
/// part only when `last_checkpoint` is not empty.
void print_stopped_run(const std::string& what, int steps_done, int total_steps,
                       const std::filesystem::path& last_checkpoint);

} // namespace psa::app
