// SPDX-License-Identifier: GPL-3.0-or-later
#include "command_line.h"
#include "commands/commands.h"
#include "commands/interrupt.h"

#include "common/atomic_file.h"
#include "pipeline/benchmark.h"

#include <iostream>

namespace psa::app {

int run_bench(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"model", true, false, "also time this small diffusers model (e.g. the tiny fixture or the demo model)"},
        {"no-sd15", false, false, "skip the full SD 1.5 architecture (random weights)"},
        {"sizes", true, false, "SD 1.5 image sizes, comma-separated (default 512,256)"},
        {"repeats", true, false, "timed runs per measurement (default 5)"},
        {"warmup", true, false, "untimed runs first (default 1)"},
        {"previews", false, false, "also time a 6-condition preview strip, batched vs one by one"},
        {"preview-steps", true, false, "steps of the preview strip (default 10)"},
        {"preview-size", true, false, "SD 1.5 preview size (default 256)"},
        {"single-file", true, false, "also measure loading this single-file checkpoint (peak memory)"},
        {"device", true, false, "auto|cpu|cuda (default auto)"},
        {"dtype", true, false, "auto|fp32|fp16|bf16 (default: fp16 on CUDA, fp32 on CPU)"},
        {"markdown", true, false, "also write the table to this file"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("bench", "[options]", specs);
        return 0;
    }
    BenchOptions o;
    o.small_model = cl.get("model");
    o.sd15 = !cl.has("no-sd15");
    if (cl.has("sizes")) {
        o.sd15_sizes.clear();
        std::string s = cl.get("sizes");
        for (size_t i = 0; i < s.size();) {
            const size_t j = s.find(',', i);
            o.sd15_sizes.push_back(std::stoi(s.substr(i, j - i)));
            i = j == std::string::npos ? s.size() : j + 1;
        }
    }
    o.repeats = cl.get_int("repeats", 5);
    o.warmup = cl.get_int("warmup", 1);
    o.previews = cl.has("previews");
    o.preview_steps = cl.get_int("preview-steps", 10);
    o.preview_size = cl.get_int("preview-size", 256);
    o.single_file = cl.get("single-file");
    o.device = cl.get("device", "auto");
    o.dtype = cl.get("dtype", "auto");
    InterruptGuard interrupt;
    JobControl job(interrupt.token(), [](const Progress& p) {
        std::cerr << "\r" << p.detail << " " << p.step << "/" << p.total << "        " << std::flush;
    });
    const auto rows = run_benchmarks(o, job);
    std::cerr << "\n";
    const auto md = benchmarks_markdown(rows);
    std::cout << md;
    if (cl.has("markdown"))
        write_file_atomic(cl.get("markdown"), md);
    return 0;
}

} // namespace psa::app
