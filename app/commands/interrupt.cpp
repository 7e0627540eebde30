// SPDX-License-Identifier: GPL-3.0-or-later
// The handler only writes one byte to a pipe (async-signal-safe); a helper thread reads it and
// requests the stop. Blocking the signal and using sigwait is not enough: libraries such as
// OpenBLAS start threads before main, and a process-directed signal may land on them.
#include "commands/interrupt.h"

#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace psa::app {

namespace {
std::mutex g_mutex;
std::stop_source* g_current = nullptr;
int g_count = 0;
int g_pipe[2] = {-1, -1};

void on_signal(int)
{
    const char byte = 1;
    (void)!write(g_pipe[1], &byte, 1);
}
} // namespace

void install_interrupt_handling()
{
    if (pipe2(g_pipe, O_CLOEXEC) != 0)
        return; // keep the default behaviour: the signal ends the process
    std::thread([] {
        for (;;) {
            char byte = 0;
            if (read(g_pipe[0], &byte, 1) != 1)
                continue;
            std::lock_guard lock(g_mutex);
            if (!g_current || ++g_count > 1)
                _exit(130);
            std::fputs("\nstopping after this step (Ctrl-C again to quit now)...\n", stderr);
            g_current->request_stop();
        }
    }).detach();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

InterruptGuard::InterruptGuard()
{
    std::lock_guard lock(g_mutex);
    g_current = &source_;
    g_count = 0;
}

InterruptGuard::~InterruptGuard()
{
    std::lock_guard lock(g_mutex);
    if (g_current == &source_)
        g_current = nullptr;
}

} // namespace psa::app
