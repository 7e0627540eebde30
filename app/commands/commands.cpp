// SPDX-License-Identifier: GPL-3.0-or-later
#include "commands/commands.h"

namespace psa::app {

const std::vector<Command>& all_commands()
{
    static const std::vector<Command> commands = {
        {"inspect", "list the tensors, metadata and parameter count of a file", run_inspect},
        {"info", "versions, device, threads and the data folder", run_info},
    };
    return commands;
}

} // namespace psa::app
