// Register state saved by every entry path in entry.S, lowest address first.
#pragma once

#include <stdint.h>

namespace hyperlet::kernel {

struct TrapFrame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error_code;
  // Pushed by the CPU (or built by syscall_entry in the same shape).
  uint64_t rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(TrapFrame) == 22 * 8, "entry.S pushes 22 quadwords");

// What the syscall paths save: the registers a syscall must preserve that C++
// code may clobber, and rax for the result; then the interrupt frame.
struct SyscallFrame {
  uint64_t args[6];  // rdi, rsi, rdx, r10, r8, r9: the syscall's arguments in order
  uint64_t rax;
  uint64_t rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(SyscallFrame) == 12 * 8, "entry.S pushes 7 registers on the interrupt frame");

}  // namespace hyperlet::kernel
