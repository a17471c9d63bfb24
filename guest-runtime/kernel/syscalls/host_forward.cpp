// Syscalls that need the host (I/O, sleeping, entropy, anything unknown) cross in
// one coarse hypercall; the host checks every guest address they carry.
#include "../hypercall.h"
#include "syscalls.h"

namespace hyperlet::kernel {

int64_t forward_to_host(uint64_t number, const uint64_t (&args)[6]) {
  abi::SyscallArgs& call = hypercall_args().syscall;
  call.number = number;
  for (int i = 0; i < 6; ++i) call.args[i] = args[i];
  call.result = 0;
  hypercall(abi::Hypercall::kHostSyscall);
  return call.result;
}

}  // namespace hyperlet::kernel
