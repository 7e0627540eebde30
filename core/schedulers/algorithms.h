// SPDX-License-Identifier: GPL-3.0-or-later
// Private to core/schedulers: one factory per algorithm file, called only by make_scheduler().
#pragma once
#include "schedulers/scheduler.h"

#include <memory>

namespace psa::sched {

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& config);
/// DPM-Solver(++) multistep as configured (algorithm, order, Karras sigmas from the config).
std::unique_ptr<Scheduler> make_dpm_solver_multistep(const SchedulerConfig& config);

} // namespace psa::sched
