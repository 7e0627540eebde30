// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/omp_wait_policy.h"

#include <cstdlib>
#include <unistd.h>

namespace psa {

void ensure_passive_omp_wait(char** argv)
{
    if (std::getenv("OMP_WAIT_POLICY"))
        return;
    if (::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0)
        return;
    ::execv("/proc/self/exe", argv);
    // exec failed (no /proc, say): carry on with the default policy rather than fail to start.
}

} // namespace psa
