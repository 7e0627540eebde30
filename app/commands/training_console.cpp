// SPDX-License-Identifier: GPL-3.0-or-later
#include "commands/training_console.h"

#include <cstdio>
#include <iostream>

namespace psa::app {

std::string clock_text(double seconds)
{
    if (seconds < 0)
        return "?";
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

void finish_progress_line(int step, int total_steps)
{
    if (step == total_steps)
        std::fprintf(stderr, "\n");
    std::fflush(stderr);
}

void print_stopped_run(const std::string& what, int steps_done, int total_steps,
                       const std::filesystem::path& last_checkpoint)
{
    std::cerr << "\n" << what << " at step " << steps_done << "/" << total_steps;
    if (!last_checkpoint.empty())
        std::cerr << "; checkpoint " << last_checkpoint.string() << " (continue with --resume)";
    std::cerr << "\n";
}

} // namespace psa::app
