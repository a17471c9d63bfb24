// Signal bookkeeping. Signals are not delivered yet, but the app may install
// handlers, block signals and set an alternate stack, and reads back what it set.
#include <asm/signal.h>
#include <linux/signal.h>

#include "../errno.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kSignalCount = 64;
constexpr uint64_t kSigsetSize = 8;
constexpr uint64_t kSigKill = 9;
constexpr uint64_t kSigStop = 19;

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

}  // namespace

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
