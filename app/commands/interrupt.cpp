// SPDX-License-Identifier: GPL-3.0-or-later
#include "commands/interrupt.h"

#include <atomic>
#include <csignal>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <unistd.h>

namespace psa::app {

namespace {
std::mutex g_mutex;
std::stop_source* g_current = nullptr;
int g_count = 0;
} // namespace

void install_interrupt_handling()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr); // inherited by every thread created after this
    std::thread([set] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0)
                continue;
            std::lock_guard lock(g_mutex);
            if (!g_current || ++g_count > 1)
                _exit(130);
            const char msg[] = "\nstopping after this step (Ctrl-C again to quit now)...\n";
            (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
            g_current->request_stop();
        }
    }).detach();
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
