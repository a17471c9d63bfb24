// Syscalls that need the host (I/O, sleeping, entropy, anything unknown) cross in
// one coarse hypercall; the host checks every guest address they carry.
//
// Every instruction here is emulated on kvm_pvm (~0.5 us) and every forwarded
// syscall runs them: the copy is unrolled (a loop cost 36 instructions, this 12),
// and the result is not cleared first because the host always writes it.
#include "../hypercall.h"
#include "syscalls.h"

namespace hyperlet::kernel {

int64_t forward_to_host(uint64_t number, const uint64_t (&args)[6]) {
  // One thread: nothing else could run while it waits, so the host may block
  // - unless a timer may fire meanwhile or a signal is already there: then
  // the call parks and the wait is the guest's, which a signal ends.
  if (other_threads_live() || timers_armed() || signal_attention()) return forward_parkable(number, args);
  abi::SyscallArgs& call = hypercall_args().syscall;
  call.number = number;
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) call.args[i] = args[i];
  hypercall(abi::Hypercall::kHostSyscall);
  return call.result;
}

int64_t kernel_call_to_host(uint64_t number, const uint64_t (&args)[6]) {
  abi::SyscallArgs& call = hypercall_args().syscall;
  call.number = number;
  for (int i = 0; i < 6; ++i) call.args[i] = args[i];
  hypercall(abi::Hypercall::kKernelHostSyscall);
  return call.result;
}

}  // namespace hyperlet::kernel
