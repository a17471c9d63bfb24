// The guest side of the hypercall ABI: one `out` per call (abi.h).
#pragma once

#include <hyperlet/abi.h>

#include "smp.h"

namespace hyperlet::kernel {

abi::HypercallArgs& cpu_hypercall_args(uint32_t cpu);  // smp.cpp: vCPU cpu > 0's page

// Each vCPU has its own argument page: vCPU 0 the fixed one, others their CpuArea's.
inline abi::HypercallArgs& hypercall_args() {
  if (cpu_count == 1) return *reinterpret_cast<abi::HypercallArgs*>(abi::kHypercallArgsAddr);
  const uint32_t cpu = this_cpu();
  return cpu == 0 ? *reinterpret_cast<abi::HypercallArgs*>(abi::kHypercallArgsAddr) : cpu_hypercall_args(cpu);
}

inline void hypercall(abi::Hypercall call) {
  const uint16_t port = static_cast<uint16_t>(abi::kHypercallPortBase + static_cast<uint16_t>(call));
  const uint32_t value = static_cast<uint32_t>(reinterpret_cast<uint64_t>(&hypercall_args()));
  asm volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

[[noreturn]] inline void hypercall_exit(int64_t status, int64_t signal = 0) {
  hypercall_args().exit.status = status;
  hypercall_args().exit.signal = signal;
  hypercall(abi::Hypercall::kExit);
  for (;;) asm volatile("hlt");
}

}  // namespace hyperlet::kernel
