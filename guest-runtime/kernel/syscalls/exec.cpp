// execve and execveat: the host boots the new image in this VM, in place
// (abi::Hypercall::kExec): new memory and a fresh guest kernel, the same host
// fds minus the close-on-exec ones, the same pid. What Linux keeps of the
// process's signal state across exec goes with the call: ignored signals stay
// ignored (handlers go back to the default), the mask, pending signals and
// signalfds stay. The call only
// returns on failure, with the app's memory untouched.
#include <linux/fcntl.h>

#include "../boot_info.h"
#include "../errno.h"
#include "../hypercall.h"
#include "../signal_state.h"
#include "syscalls.h"

namespace hyperlet::kernel {

namespace {

void fill_exec_args(abi::ExecArgs& call, uint64_t path, uint64_t argv, uint64_t envp) {
  call.path = path;
  call.argv = argv;
  call.envp = envp;
  uint64_t ignored_set = 0;
  for (uint64_t signal = 1; signal <= kSignalCount; ++signal) {
    if (process_signals.actions[signal].handler == kSigIgnore) ignored_set |= signal_bit(signal);
  }
  call.signals_ignored = ignored_set;
  call.signals_blocked = current_signals().blocked;
  call.carried.pending_count = pending_for_exec(call.carried.pending, abi::kExecCarriedSignals);
  call.carried.signalfd_count = signalfds_for_exec(call.carried.signalfds, abi::kExecCarriedSignalfds);
  call.process_id = process_id();
  call.parent_process_id = parent_process_id();
  call.result = error(ENOSYS);
}

}  // namespace

int64_t sys_execve(uint64_t path, uint64_t argv, uint64_t envp) {
  abi::ExecArgs& call = hypercall_args().exec;
  fill_exec_args(call, path, argv, envp);
  hypercall(abi::Hypercall::kExec);
  return call.result;
}

int64_t sys_execveat(uint64_t dirfd, uint64_t path, uint64_t argv, uint64_t envp, uint64_t flags) {
  if ((flags & ~static_cast<uint64_t>(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) != 0) return error(EINVAL);
  const auto directory = static_cast<int64_t>(static_cast<int32_t>(dirfd));  // an int, as Linux reads it
  if (directory == AT_FDCWD && flags == 0) return sys_execve(path, argv, envp);
  abi::ExecAtArgs& call = hypercall_args().exec_at;
  fill_exec_args(call.exec, path, argv, envp);
  call.dirfd = directory;
  call.flags = flags;
  hypercall(abi::Hypercall::kExecAt);
  return call.exec.result;
}

void signals_after_exec() {
  const abi::BootInfo& info = boot_info();
  for (uint64_t signal = 1; signal <= kSignalCount; ++signal) {
    if ((info.signals_ignored & signal_bit(signal)) != 0 && signal != kSigKill && signal != kSigStop) {
      process_signals.actions[signal].handler = kSigIgnore;
      publish_handled(signal);
    }
  }
  thread_signals(0).blocked = info.signals_blocked & ~kUnblockable;
  const abi::ExecCarried& carried = info.exec_carried;
  pending_after_exec(carried.pending, carried.pending_count < abi::kExecCarriedSignals ? carried.pending_count
                                                                                       : abi::kExecCarriedSignals);
  signalfds_after_exec(carried.signalfds, carried.signalfd_count < abi::kExecCarriedSignalfds
                                              ? carried.signalfd_count
                                              : abi::kExecCarriedSignalfds);
  update_signal_attention();
}

}  // namespace hyperlet::kernel
