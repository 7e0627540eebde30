// SPDX-License-Identifier: GPL-3.0-or-later
// Why: glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh mmap
// and returns it with munmap on free. Diffusion work allocates and frees tensors of that size on
// every step (attention maps: 33.5 MiB per layer for the demo UNet at batch 32, 512 MiB for SD 1.5
// at 512 px), so the kernel zeroed and faulted in those pages again each time: a third of the demo
// UNet's training time was page faults and clear_page (perf, 2026-11-28), and training ran 1.4x
// faster once freed blocks stayed in the heap (0.71 -> 1.02 steps/s). The price is that freed
// memory is given back to the system only when release_free_memory() asks for it.
#pragma once

namespace psa {

/// Call early in main(): heap allocations of every size (no per-allocation mmap) and a trim
/// threshold of 512 MiB. Respects GLIBC_TUNABLES / MALLOC_* settings the user made (then does
/// nothing). No effect on other C libraries.
void keep_freed_tensor_memory();

/// Gives free heap pages back to the system (malloc_trim); call after dropping a large object
/// such as a model.
void release_free_memory();

} // namespace psa
