// Signal bookkeeping. Signals are not delivered yet, but the app may install
// handlers, block signals and set an alternate stack, and reads back what it set.
// A signal the app sends itself whose action is to terminate ends the run with
// 128 + signal, as a shell reports it (abort() and uncaught exceptions: 134).
#include <asm/signal.h>
#include <asm/unistd_64.h>
#include <linux/signal.h>

#include "../errno.h"
#include "../hypercall.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kSignalCount = 64;
constexpr uint64_t kSigsetSize = 8;
constexpr uint64_t kSigKill = 9;
constexpr uint64_t kSigStop = 19;
constexpr uint64_t kAppId = 1;  // the app is process 1 (syscall_dispatch.cpp)
constexpr uint64_t kSigDefault = 0;  // SIG_DFL
constexpr uint64_t kSigIgnore = 1;   // SIG_IGN

struct KernelSigaction {
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

struct SignalStack {
  uint64_t sp;
  int32_t flags;
  int32_t pad;
  uint64_t size;
};

KernelSigaction actions[kSignalCount + 1];
uint64_t blocked;
SignalStack alternate_stack = {0, SS_DISABLE, 0, 0};

// Signals whose default action is not to terminate: ignore (SIGCHLD, SIGCONT,
// SIGURG, SIGWINCH) or stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU; no job control here).
bool default_keeps_running(uint64_t signal) {
  return (signal >= 17 && signal <= 23) || signal == 28;
}

// The app sent itself `signal`. Blocked signals stay pending (and, with no
// delivery, are never delivered); a handler cannot run yet, so that case is
// ENOSYS rather than a silent success. glibc's abort() then falls back to
// SIG_DFL and raises again, which terminates.
int64_t send_to_self(uint64_t signal) {
  if (signal > kSignalCount) return error(EINVAL);
  if (signal == 0) return 0;
  if ((blocked & (1ull << (signal - 1))) != 0) return 0;
  const uint64_t handler = actions[signal].handler;
  if (handler == kSigIgnore) return 0;
  if (handler != kSigDefault) return error(ENOSYS);
  if (default_keeps_running(signal)) return 0;
  hypercall_exit(static_cast<int64_t>(128 + signal), static_cast<int64_t>(signal));
}

}  // namespace

// Linux sends SIGPIPE to a writer whose pipe or stream socket has no reader left
// (not for sends with MSG_NOSIGNAL). With the default action the app ends as if
// killed by it, so `hyperlet run APP | head` ends as natively; blocked or ignored,
// the call returns EPIPE. A handler cannot run yet: EPIPE too.
int64_t after_broken_pipe(uint64_t number, const uint64_t (&args)[6], int64_t result) {
  constexpr uint64_t kSigPipe = 13;
  constexpr uint64_t kMsgNoSignal = 0x4000;
  bool raises = false;
  switch (number) {
    case __NR_write:
    case __NR_writev:
    case __NR_pwritev:
    case __NR_pwritev2:
    case __NR_sendfile:
    case __NR_splice:
    case __NR_vmsplice:
      raises = true;
      break;
    case __NR_sendto:
    case __NR_sendmmsg:
      raises = (args[3] & kMsgNoSignal) == 0;
      break;
    case __NR_sendmsg:
      raises = (args[2] & kMsgNoSignal) == 0;
      break;
    default:
      break;
  }
  if (!raises || (blocked & (1ull << (kSigPipe - 1))) != 0 || actions[kSigPipe].handler != kSigDefault) return result;
  hypercall_exit(static_cast<int64_t>(128 + kSigPipe), static_cast<int64_t>(kSigPipe));
}

int64_t sys_kill(uint64_t pid, uint64_t signal) {
  const auto target = static_cast<int64_t>(pid);
  // 0 and -1 name every process the app may signal: only itself.
  if (target != static_cast<int64_t>(kAppId) && target != 0 && target != -1) return error(ESRCH);
  return send_to_self(signal);
}

int64_t sys_tgkill(uint64_t process, uint64_t thread, uint64_t signal) {
  if (static_cast<int64_t>(process) <= 0 || static_cast<int64_t>(thread) <= 0) return error(EINVAL);
  if (process != kAppId || !thread_alive(thread)) return error(ESRCH);
  return send_to_self(signal);
}

int64_t sys_rt_sigaction(uint64_t signal, uint64_t action, uint64_t old_action, uint64_t set_size) {
  if (set_size != kSigsetSize || signal == 0 || signal > kSignalCount) return error(EINVAL);
  if (action != 0 && (signal == kSigKill || signal == kSigStop)) return error(EINVAL);
  const KernelSigaction* in = nullptr;
  if (action != 0 && (in = user_pointer<KernelSigaction>(action)) == nullptr) return error(EFAULT);
  if (old_action != 0) {
    auto* out = user_pointer<KernelSigaction>(old_action);
    if (out == nullptr) return error(EFAULT);
    *out = actions[signal];
  }
  if (in != nullptr) actions[signal] = *in;
  return 0;
}

int64_t sys_rt_sigprocmask(uint64_t how, uint64_t set, uint64_t old_set, uint64_t set_size) {
  if (set_size != kSigsetSize) return error(EINVAL);
  if (old_set != 0) {
    auto* out = user_pointer<uint64_t>(old_set);
    if (out == nullptr) return error(EFAULT);
    *out = blocked;
  }
  if (set == 0) return 0;
  const auto* in = user_pointer<uint64_t>(set);
  if (in == nullptr) return error(EFAULT);
  const uint64_t unblockable = (1ull << (kSigKill - 1)) | (1ull << (kSigStop - 1));
  switch (how) {
    case SIG_BLOCK: blocked |= *in; break;
    case SIG_UNBLOCK: blocked &= ~*in; break;
    case SIG_SETMASK: blocked = *in; break;
    default: return error(EINVAL);
  }
  blocked &= ~unblockable;
  return 0;
}

int64_t sys_sigaltstack(uint64_t stack, uint64_t old_stack) {
  const SignalStack* in = nullptr;
  if (stack != 0 && (in = user_pointer<SignalStack>(stack)) == nullptr) return error(EFAULT);
  if (old_stack != 0) {
    auto* out = user_pointer<SignalStack>(old_stack);
    if (out == nullptr) return error(EFAULT);
    *out = alternate_stack;
  }
  if (in != nullptr) {
    if ((in->flags & ~SS_DISABLE) != 0) return error(EINVAL);
    if ((in->flags & SS_DISABLE) == 0 && in->size < MINSIGSTKSZ) return error(ENOMEM);
    alternate_stack = *in;
  }
  return 0;
}

}  // namespace hyperlet::kernel
