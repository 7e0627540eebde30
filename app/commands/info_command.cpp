// SPDX-License-Identifier: GPL-3.0-or-later
#include "command_line.h"
#include "commands/commands.h"

#include "common/paths.h"
#include "tensor_io/device.h"

#include <iostream>

namespace psa::app {

int run_info(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {{"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("info", "", specs) << "Prints versions, device and data folder.\n";
        return 0;
    }
    std::cout << runtime_summary() << "data folder: " << app_data_dir().string() << "\n";
    return 0;
}

} // namespace psa::app
