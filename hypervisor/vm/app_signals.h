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

// kill of a process group (0: the caller's, -PGID) or of every process (-1)
// reaches processes that are other hyperlets, of which each knows only its
// parent and its children: the signal spreads along that tree, each hyperlet
// passing it to its neighbours but the one it came from (si_pid), and each
// process in the group hands it to its app. Such a message is the relayed
// signal with this value instead of a bare signal number.
struct GroupSignal {
  int signal = 0;
  int pgid = 0;        // the group (a guest pid); unused with `every`
  bool every = false;  // kill(-1): every process but the run's first and the sender
  int sender = 0;      // the guest pid of the process that called kill (siginfo's si_pid)
};

inline constexpr std::uint64_t kGroupSignalFlag = std::uint64_t{1} << 8;
inline constexpr std::uint64_t kEveryProcessFlag = std::uint64_t{1} << 9;

// Bits 10-31: the sender (Linux pids are below 2^22, PID_MAX_LIMIT).
inline constexpr unsigned kGroupSenderShift = 10;
inline constexpr std::uint64_t kGroupSenderMask = (std::uint64_t{1} << 22) - 1;

constexpr std::uint64_t encode_group_signal(const GroupSignal& group) {
  return static_cast<std::uint64_t>(group.signal & 0xff) | kGroupSignalFlag | (group.every ? kEveryProcessFlag : 0) |
         ((static_cast<std::uint64_t>(static_cast<std::uint32_t>(group.sender)) & kGroupSenderMask)
          << kGroupSenderShift) |
         (static_cast<std::uint64_t>(static_cast<std::uint32_t>(group.pgid)) << 32);
}

constexpr bool is_group_signal(std::uint64_t value) { return (value & kGroupSignalFlag) != 0; }

constexpr GroupSignal decode_group_signal(std::uint64_t value) {
  return GroupSignal{static_cast<int>(value & 0xff), static_cast<int>(static_cast<std::uint32_t>(value >> 32)),
                     (value & kEveryProcessFlag) != 0,
                     static_cast<int>((value >> kGroupSenderShift) & kGroupSenderMask)};
}

}  // namespace hyperlet
