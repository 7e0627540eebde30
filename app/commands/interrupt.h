// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <stop_token>

namespace psa::app {

/// Call first thing in main: SIGINT/SIGTERM go through a self-pipe to a helper thread, so
/// nothing unsafe runs in a signal handler. With no InterruptGuard alive, the signal exits (130).
void install_interrupt_handling();

/// While alive, Ctrl-C (SIGINT) or SIGTERM requests a stop of the current job instead of ending
/// the process; a second Ctrl-C exits at once.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
    std::stop_token token() const { return source_.get_token(); }

private:
    std::stop_source source_;
};

} // namespace psa::app
