// Which host signals reach the app. Sent to hyperlet from outside, SIGHUP,
// SIGINT, SIGUSR1, SIGUSR2, SIGTERM and SIGCHLD go to the app when it has an
// action for them (vm/stop_signals.h).
//
// How a signal travels from one of an app's processes to another (kill of a
// parent or a child, devices/processes.cpp): each process is a hyperlet, and
// most signals sent to a hyperlet as themselves would reach hyperlet, not its
// app (SIGALRM is its --timeout, SIGSEGV would look like its own crash,
// SIGWINCH would be dropped). Those travel inside this host signal instead,
// queued with the guest signal as its value; the receiving hyperlet hands
// that to its app (vm/stop_signals.cpp), whose guest kernel takes it as Linux
// would: a handler, ignored, or the default action.
#pragma once

#include <signal.h>

#include <cstdint>

namespace hyperlet {

inline constexpr std::uint64_t kAppSignals = (1u << (SIGHUP - 1)) | (1u << (SIGINT - 1)) | (1u << (SIGUSR1 - 1)) |
                                             (1u << (SIGUSR2 - 1)) | (1u << (SIGTERM - 1)) | (1u << (SIGCHLD - 1));

// SIGRTMAX - 2 on Linux: glibc reserves only the first real-time signals, and
// hyperlet uses no other. A number, not SIGRTMAX (a glibc function), so that
// the seccomp filter generator can name it.
inline constexpr int kRelayedAppSignal = 62;

}  // namespace hyperlet
