// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/log.h"

#include "common/paths.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace psa {

std::filesystem::path init_logging(const LogOptions& options)
{
    std::vector<spdlog::sink_ptr> sinks;
    if (options.console) {
        auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
        console->set_pattern("%^%l%$: %v");
        sinks.push_back(console);
    }
    std::filesystem::path file;
    std::string file_problem;
    if (options.file) {
        try {
            file = app_data_subdir("logs") / "psa.log";
            auto rotating = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                file.string(), 5 * 1024 * 1024, 5);
            rotating->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%t] [%l] %v");
            sinks.push_back(rotating);
        } catch (const std::exception& e) {
            file_problem = e.what();
            file.clear();
        }
    }
    auto logger = std::make_shared<spdlog::logger>("psa", sinks.begin(), sinks.end());
    logger->set_level(spdlog::level::from_str(options.level));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    if (!file_problem.empty())
        spdlog::warn("no log file: {}", file_problem);
    return file;
}

void add_log_sink(std::shared_ptr<spdlog::sinks::sink> sink)
{
    spdlog::default_logger()->sinks().push_back(std::move(sink));
}

} // namespace psa
