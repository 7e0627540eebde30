// SPDX-License-Identifier: GPL-3.0-or-later
// The only place a scheduler name is mapped to an algorithm (STYLE.md 3).
#include "schedulers/algorithms.h"
#include "schedulers/scheduler.h"

#include "common/error.h"

namespace psa {

std::vector<std::string> scheduler_names()
{
    return {"ddim", "pndm", "euler", "euler-a", "dpmpp-2m", "dpmpp-2m-karras"};
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& config)
{
    if (name == "ddim")
        return sched::make_ddim(config);
    if (name == "pndm")
        return sched::make_pndm(config);
    if (name == "euler")
        return sched::make_euler(config);
    if (name == "euler-a")
        return sched::make_euler_ancestral(config);
    if (name == "dpmpp-2m" || name == "dpmpp-2m-karras") {
        // The name states the solver; a model folder's own DPM settings must not change it.
        SchedulerConfig c = config;
        c.algorithm_type = "dpmsolver++";
        c.solver_order = 2;
        c.use_karras_sigmas = name == "dpmpp-2m-karras";
        return sched::make_dpm_solver_multistep(c);
    }
    std::string valid;
    for (const auto& n : scheduler_names())
        valid += (valid.empty() ? "" : ", ") + n;
    throw InvalidRequest("unknown scheduler '" + name + "' (valid names: " + valid + ")");
}

} // namespace psa
