// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/error.h"

namespace psa {

std::string path_message(const std::string& path, const std::string& message)
{
    return path + ": " + message;
}

} // namespace psa
