// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <chrono>
#include <functional>
#include <stop_token>
#include <string>

namespace psa {

/// What a long job is doing right now.
enum class Stage { Load, Encode, Denoise, Decode, Save, Train, Checkpoint, Evaluate, Other };
const char* stage_name(Stage stage);

/// One progress event. step == total means the stage is done. Rates are per second of wall time
/// since the stage began; eta_seconds < 0 when unknown.
struct Progress {
    Stage stage = Stage::Other;
    int step = 0;
    int total = 0;
    double rate_per_second = 0.0;
    double eta_seconds = -1.0;
    std::string detail;
};
using ProgressFn = std::function<void(const Progress&)>;

/// Cancellation is not an error: long calls return this.
enum class Outcome { Completed, Cancelled };

/// The one progress-and-cancel handle every long call takes (load, generate, train, evaluate).
/// It carries the caller's stop token and progress callback, and measures rate and ETA per stage.
/// Callbacks run on the worker thread and must not block. Not thread-safe: one job, one thread.
class JobControl {
public:
    JobControl() = default;
    JobControl(std::stop_token stop, ProgressFn on_progress);

    bool stop_requested() const { return stop_.stop_requested(); }
    const std::stop_token& stop_token() const { return stop_; }

    /// Reports step/total of a stage; the first call of a stage starts its clock.
    void report(Stage stage, int step, int total, std::string detail = {});

private:
    std::stop_token stop_;
    ProgressFn on_progress_;
    Stage clock_stage_ = Stage::Other;
    int clock_step_ = -1;
    std::chrono::steady_clock::time_point clock_start_{};
};

} // namespace psa
