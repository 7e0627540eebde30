// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <filesystem>
#include <memory>
#include <string>

namespace spdlog {
class logger;
namespace sinks {
class sink;
}
} // namespace spdlog

namespace psa {

struct LogOptions {
    std::string level = "info";  // trace, debug, info, warn, error, off
    bool console = true;         // to stderr
    bool file = true;            // rotating file under app_data_dir()/logs
};

/// Sets up the "psa" logger as spdlog's default: stderr plus a rotating file (5 x 5 MB).
/// Safe to call again (replaces the sinks). A log folder that cannot be created disables the file
/// sink with a warning instead of failing. Returns the log file path (empty when none).
std::filesystem::path init_logging(const LogOptions& options = {});

/// Adds a sink (the GUI's log panel) to the default logger.
void add_log_sink(std::shared_ptr<spdlog::sinks::sink> sink);

} // namespace psa
