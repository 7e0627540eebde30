// SPDX-License-Identifier: GPL-3.0-or-later
#include "command_line.h"
#include "commands/commands.h"

#include "common/error.h"
#include "tensor_io/inspect.h"

#include <iostream>

namespace psa::app {

int run_inspect(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {{"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("inspect", "FILE", specs)
                  << "Lists the tensors (name, dtype, shape), metadata and parameter count of a\n"
                     ".safetensors or .npy file.\n";
        return 0;
    }
    if (cl.positional().size() != 1)
        throw InvalidRequest("inspect takes exactly one FILE (see psa inspect --help)");
    std::cout << inspect_file(cl.positional().front());
    return 0;
}

} // namespace psa::app
