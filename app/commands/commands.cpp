// SPDX-License-Identifier: GPL-3.0-or-later
#include "commands/commands.h"

namespace psa::app {

const std::vector<Command>& all_commands()
{
    static const std::vector<Command> commands = {
        {"inspect", "list the tensors, metadata and parameter count of a file", run_inspect},
        {"generate", "text to image, optionally for a safety profile or level", run_generate},
        {"previews", "the same prompt and seed at levels L0-L5 (and profiles), as a strip", run_previews},
        {"bench", "timings and peak memory of the model parts and preview strips", run_bench},
        {"train", "fine-tune a safety adapter with personalized Diffusion-DPO", run_train},
        {"convert", "write a model as one original-layout .safetensors file", run_convert},
        {"world", "the synthetic Sage-mini world: data, judge, metrics", run_world},
        {"profile", "show a safety profile, or create one from attributes", run_profile},
        {"info", "versions, device, threads and the data folder", run_info},
    };
    return commands;
}

} // namespace psa::app
