// SPDX-License-Identifier: GPL-3.0-or-later
// `psa convert`: a diffusers folder (or the SD 1.5 architecture with random weights) written as
// one original-layout single-file checkpoint. The file appears only when complete (atomic write).
#include "command_line.h"
#include "commands/commands.h"
#include "commands/interrupt.h"

#include "common/error.h"
#include "pipeline/checkpoint_export.h"

#include <cstdio>
#include <iostream>

namespace psa::app {

namespace {

void print_progress(const Progress& p)
{
    if (p.step < p.total && !p.detail.empty()) {
        const char* verb = p.stage == Stage::Load   ? "loading"
                           : p.stage == Stage::Save ? "writing"
                                                    : "building";
        std::fprintf(stderr, "%s %s...\n", verb, p.detail.c_str());
        std::fflush(stderr);
    }
}

} // namespace

int run_convert(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"model", true, false, "diffusers folder (or single file) to convert"},
        {"random-sd15", false, false,
         "instead of --model: the SD 1.5 architecture with random weights"},
        {"out", true, false, "the .safetensors file to write (required)"},
        {"dtype", true, false, "fp32|fp16|bf16 (default fp32)"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout
            << usage_text("convert",
                          "(--model DIR | --random-sd15) --out FILE.safetensors [--dtype D]", specs)
            << "Writes an SD 1.x model as one original-layout (LDM) single-file checkpoint:\n"
               "model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.*.\n"
               "Loading it needs a tokenizer/ folder next to it (or --tokenizer, "
               "PSA_TOKENIZER_DIR).\n";
        return 0;
    }
    if (cl.has("model") == cl.has("random-sd15"))
        throw InvalidRequest("give one of --model DIR and --random-sd15");
    const std::filesystem::path out = cl.require("out");
    if (out.extension() != ".safetensors")
        throw InvalidRequest("option --out: \"" + out.string() + "\" must end in .safetensors");
    const std::string dtype = cl.get("dtype", "fp32");

    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_progress);
    const auto written = cl.has("model") ? export_single_file(cl.get("model"), out, dtype, job)
                                         : export_random_sd15(out, dtype, job);
    if (written.outcome == Outcome::Cancelled) {
        std::cerr << "stopped: nothing was written\n";
        return 130;
    }
    std::cout << out.string() << "\n";
    std::fprintf(stderr, "%lld tensors, %.1f MiB, %s\n", static_cast<long long>(written.tensors),
                 static_cast<double>(written.bytes) / (1024.0 * 1024.0), dtype.c_str());
    return 0;
}

} // namespace psa::app
