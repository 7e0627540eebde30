// SPDX-License-Identifier: GPL-3.0-or-later
// `psa bench`: timings of the model's parts and of preview strips, as medians over repeats after
// a warm-up, with the peak resident memory of each measurement.
#pragma once
#include "common/progress.h"

#include <filesystem>
#include <string>
#include <vector>

namespace psa {

struct BenchOptions {
    int repeats = 5;
    int warmup = 1;
    std::string device = "auto";
    std::string dtype = "auto";
    bool sd15 = true;                       ///< the full SD 1.5 architecture, random weights
    std::vector<int> sd15_sizes = {512, 256};
    std::filesystem::path small_model;      ///< a diffusers folder (tiny fixture, demo model), or empty
    bool previews = false;                  ///< also time a 6-condition preview strip, batched vs one by one
    int preview_steps = 10;
    int preview_size = 256;                 ///< for SD 1.5
    std::filesystem::path single_file;      ///< also measure loading this single-file checkpoint
};

struct BenchRow {
    std::string model;       // "SD 1.5 (random)", "tiny-sd"
    std::string what;        // "UNet batch 2", "VAE decode", ...
    std::string size;        // "512 px"
    std::string device;      // "cpu fp32"
    std::vector<double> seconds{}; // initialised, so that rows built from their first four fields warn of nothing
    double median = 0, min = 0, max = 0;
    double peak_rss_mb = 0;  // peak resident memory during the measurement (whole process)
};

std::vector<BenchRow> run_benchmarks(const BenchOptions& options, JobControl& job);
/// A Markdown table plus the machine it ran on.
std::string benchmarks_markdown(const std::vector<BenchRow>& rows);
/// "Intel(R) Xeon(R) ... , 2 cores, 24 GiB, LibTorch 1.13.1, 2 threads"
std::string machine_description();

/// Resets the process's peak-RSS counter (Linux clear_refs) and reads it back, in MiB.
void reset_peak_rss();
double peak_rss_mb();

} // namespace psa
