// fork, vfork and clone without CLONE_THREAD (posix_spawn's CLONE_VM|CLONE_VFORK
// among them): a new process is a new microVM. The host forks its own process
// (abi::Hypercall::kFork); the child host process creates a VM over its
// copy-on-write copy of guest memory with this vCPU's state, so the child
// continues right here, after the hypercall, with result 0. Everything the
// guest kernel holds (thread table, signal state, timers) was copied with the
// memory; the child keeps what Linux's child keeps and drops the rest.
//
// CLONE_VM|CLONE_VFORK (vfork, posix_spawn) is kVfork: the child still gets a
// copy, but the parent waits until the child execs or ends and then holds the
// app pages the child wrote, as if they had shared the memory (glibc's
// posix_spawn reports a failed exec through it). Only memory the parent had
// mapped: the child describes the parent's free ranges first
// (abi::VforkParentMemory), so that a mapping the child makes, which Linux
// would show the parent, stays the child's own. The heap is the exception:
// malloc's state in it is shared, so the parent takes the child's heap end.
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

int64_t sys_fork_process(const uint64_t (&args)[6], ForkCall kind) {
  constexpr uint64_t kSigchld = 17;
  const bool plain = kind != ForkCall::kClone;
  const uint64_t flags =
      kind == ForkCall::kFork ? kSigchld : (kind == ForkCall::kVfork ? CLONE_VM | CLONE_VFORK | kSigchld : args[0]);
  const uint64_t stack = plain ? 0 : args[1];
  const uint64_t parent_tid = plain ? 0 : args[2];
  const uint64_t child_tid = plain ? 0 : args[3];
  const uint64_t tls = plain ? 0 : args[4];
  if ((flags & ~(kProcessFlags | kExitSignalMask)) != 0) return error(EINVAL);
  if ((flags & CLONE_SETTLS) != 0 && !segment_base_ok(tls)) return error(EPERM);
  // Checked before the fork, as Linux does: a bad pointer is the parent's EFAULT.
  if ((flags & CLONE_PARENT_SETTID) != 0 && user_pointer<uint32_t>(parent_tid) == nullptr) return error(EFAULT);
  // The child has the same mappings: it writes through the pointer checked here.
  uint32_t* const child_tid_word =
      (flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) != 0 ? user_pointer<uint32_t>(child_tid) : nullptr;
  if ((flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID)) != 0 && child_tid_word == nullptr) return error(EFAULT);

  abi::ForkArgs& call = hypercall_args().fork;
  call.result = error(ENOSYS);
  call.child_pid = 0;
  const bool borrows_memory = (flags & (CLONE_VM | CLONE_VFORK)) == (CLONE_VM | CLONE_VFORK);
  if (borrows_memory) prepare_for_vfork();
  hypercall(borrows_memory ? abi::Hypercall::kVfork : abi::Hypercall::kFork);
  const int64_t result = call.result;
  const auto child_pid = static_cast<uint32_t>(call.child_pid);
  if (result < 0) return result;
  if (result > 0) {
    if (borrows_memory) adopt_heap_of_vfork_child();
    if (auto* word = user_pointer<uint32_t>(parent_tid); (flags & CLONE_PARENT_SETTID) != 0 && word != nullptr) {
      *word = static_cast<uint32_t>(result);
    }
    return result;
  }

  // The child: its own pid, which is also its only thread's tid.
  if (borrows_memory) describe_free_memory_for_vfork();
  parent_id_value = process_id();
  process_id_value = child_pid;
  forked = true;
  become_only_cpu();
  become_only_thread(child_pid, (flags & CLONE_CHILD_CLEARTID) != 0 ? child_tid : 0);
  signals_after_fork();
  forget_timers();
  if ((flags & CLONE_CHILD_SETTID) != 0) *child_tid_word = child_pid;
  if ((flags & CLONE_SETTLS) != 0) write_msr(kMsrFsBase, tls);
  if (stack != 0) reinterpret_cast<SyscallFrame&>(const_cast<uint64_t(&)[6]>(args)).rsp = stack;
  return 0;
}

}  // namespace hyperlet::kernel
