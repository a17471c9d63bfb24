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

}  // namespace hyperlet::kernel
