// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/allocator_tuning.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace psa {

void keep_freed_tensor_memory()
{
#if defined(__GLIBC__)
    if (std::getenv("GLIBC_TUNABLES") || std::getenv("MALLOC_MMAP_MAX_") || std::getenv("MALLOC_TRIM_THRESHOLD_"))
        return;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
#endif
}

void release_free_memory()
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

} // namespace psa
