// fork, vfork and clone without CLONE_THREAD (posix_spawn's CLONE_VM|CLONE_VFORK
// among them): a new process is a new microVM. The host forks its own process
// (abi::Hypercall::kFork); the child host process creates a VM over its
// copy-on-write copy of guest memory with this vCPU's state, so the child
// continues right here, after the hypercall, with result 0. Everything the
// guest kernel holds (thread table, signal state, timers) was copied with the
// memory; the child keeps what Linux's child keeps and drops the rest.
//
// CLONE_VM|CLONE_VFORK is served as a fork: the child gets a copy, not the
// parent's memory, and the parent does not wait for its exec or exit. What a
// vfork child may do before either (set a few variables, dup2, exec or _exit)
// behaves the same, except that stores it makes are not seen by the parent
// (glibc's posix_spawn then reports a failed exec as exit status 127 instead
// of as its errno).
#include <linux/sched.h>

#include "../boot_info.h"
#include "../errno.h"
#include "../hypercall.h"
#include "../msr.h"
#include "../trap_frame.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kExitSignalMask = 0xff;
// What fork, vfork and posix_spawn pass, and what a child may ask for its tid words and TLS.
constexpr uint64_t kProcessFlags =
    CLONE_VM | CLONE_VFORK | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_SETTLS;

// 0 until a fork sets them: then BootInfo's (an exec'd image's), else the run's
// first process, 1, as in a PID namespace.
uint32_t process_id_value = 0;
uint32_t parent_id_value = 0;
bool forked = false;

}  // namespace

uint32_t process_id() {
  if (process_id_value != 0) return process_id_value;
  const uint32_t booted = boot_info().process_id;
  return booted != 0 ? booted : 1;
}
uint32_t parent_process_id() { return forked ? parent_id_value : boot_info().parent_process_id; }

int64_t sys_fork_process(const uint64_t (&args)[6], bool plain) {
  constexpr uint64_t kSigchld = 17;
  const uint64_t flags = plain ? kSigchld : args[0];
  const uint64_t stack = plain ? 0 : args[1];
  const uint64_t parent_tid = plain ? 0 : args[2];
  const uint64_t child_tid = plain ? 0 : args[3];
  const uint64_t tls = plain ? 0 : args[4];
  if ((flags & ~(kProcessFlags | kExitSignalMask)) != 0) return error(EINVAL);
  if ((flags & CLONE_SETTLS) != 0 && !segment_base_ok(tls)) return error(EPERM);
  // Checked before the fork, as Linux does: a bad pointer is the parent's EFAULT.
  if ((flags & CLONE_PARENT_SETTID) != 0 && user_pointer<uint32_t>(parent_tid) == nullptr) return error(EFAULT);
  if ((flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) != 0 && user_pointer<uint32_t>(child_tid) == nullptr) {
    return error(EFAULT);
  }

  abi::ForkArgs& call = hypercall_args().fork;
  call.result = error(ENOSYS);
  call.child_pid = 0;
  hypercall(abi::Hypercall::kFork);
  const int64_t result = call.result;
  const auto child_pid = static_cast<uint32_t>(call.child_pid);
  if (result < 0) return result;
  if (result > 0) {
    if (auto* word = user_pointer<uint32_t>(parent_tid); (flags & CLONE_PARENT_SETTID) != 0 && word != nullptr) {
      *word = static_cast<uint32_t>(result);
    }
    return result;
  }

  // The child: its own pid, which is also its only thread's tid.
  parent_id_value = process_id();
  process_id_value = child_pid;
  forked = true;
  become_only_thread(child_pid, (flags & CLONE_CHILD_CLEARTID) != 0 ? child_tid : 0);
  signals_after_fork();
  forget_timers();
  if ((flags & CLONE_CHILD_SETTID) != 0) *user_pointer<uint32_t>(child_tid) = child_pid;
  if ((flags & CLONE_SETTLS) != 0) write_msr(kMsrFsBase, tls);
  if (stack != 0) reinterpret_cast<SyscallFrame&>(const_cast<uint64_t(&)[6]>(args)).rsp = stack;
  return 0;
}

}  // namespace hyperlet::kernel
