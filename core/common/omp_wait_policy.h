// SPDX-License-Identifier: GPL-3.0-or-later
// Why: libgomp's worker threads spin while they wait for each other (OMP_WAIT_POLICY=ACTIVE
// behaviour by default). When another process takes a core away, every parallel region waits for
// a descheduled spinner: on 2 shared cores the tiny model's 6-image strip took 15.4 s instead of
// 0.93 s with the passive policy (docs/benchmarks.md). libgomp reads the variable once, when it is
// loaded, before main() runs, so the only way to change it is to start the program again.
// The price is loading the libraries twice: about 0.3-0.4 s more start-up for `psa info`
// (0.9 -> 1.3 s, measured 2026-11-28); set OMP_WAIT_POLICY yourself to skip it.
#pragma once

namespace psa {

/// Call first thing in main(). When OMP_WAIT_POLICY is not set, sets it to PASSIVE and replaces
/// the process with a fresh copy of itself (same arguments, via /proc/self/exe); the second start
/// sees the variable and returns at once. A value the user set is respected. If the re-execution
/// fails the program simply continues with the default policy.
void ensure_passive_omp_wait(char** argv);

} // namespace psa
