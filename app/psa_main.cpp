// SPDX-License-Identifier: GPL-3.0-or-later
// `psa`: the command line. Composition root only: logging, threads, dispatch to a subcommand,
// and the one place where an error becomes a single line on stderr and exit code 1.
#include "commands/commands.h"
#include "commands/interrupt.h"

#include "common/error.h"
#include "common/log.h"
#include "common/allocator_tuning.h"
#include "common/omp_wait_policy.h"
#include "tensor_io/device.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <iostream>

namespace {

void print_usage()
{
    std::cout << "usage: psa COMMAND [OPTIONS]   (psa COMMAND --help for its options)\n\ncommands:\n";
    for (const auto& c : psa::app::all_commands())
        std::cout << "  " << c.name << std::string(12 - std::strlen(c.name), ' ') << c.summary << "\n";
}

} // namespace

int main(int argc, char** argv)
{
    psa::ensure_passive_omp_wait(argv);
    psa::keep_freed_tensor_memory();
    psa::app::install_interrupt_handling();
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        print_usage();
        return argc < 2 ? 1 : 0;
    }
    psa::LogOptions log;
    if (const char* lvl = std::getenv("PSA_LOG_LEVEL"))
        log.level = lvl;
    log.level = log.level.empty() ? "info" : log.level;
    psa::init_logging(log);

    const std::string name = argv[1];
    std::vector<std::string> args(argv + 2, argv + argc);
    for (const auto& c : psa::app::all_commands()) {
        if (name != c.name)
            continue;
        try {
            psa::configure_threads();
            return c.run(args);
        } catch (const std::exception& e) {
            // One clear line; the full text (multi-line load reports) goes to the log file.
            std::string msg = e.what();
            spdlog::debug("psa {} failed: {}", name, msg);
            std::cerr << "error: " << msg << "\n";
            return 1;
        }
    }
    std::cerr << "error: unknown command \"" << name << "\" (see psa --help)\n";
    return 1;
}
