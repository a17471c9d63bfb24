// The guest side of the hypercall ABI: one `out` per call (abi.h).
#pragma once

#include <hyperlet/abi.h>

namespace hyperlet::kernel {

inline abi::HypercallArgs& hypercall_args() {
  return *reinterpret_cast<abi::HypercallArgs*>(abi::kHypercallArgsAddr);
}

inline void hypercall(abi::Hypercall call) {
  const uint16_t port = static_cast<uint16_t>(abi::kHypercallPortBase + static_cast<uint16_t>(call));
  const uint32_t value = static_cast<uint32_t>(abi::kHypercallArgsAddr);
  asm volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

[[noreturn]] inline void hypercall_exit(int64_t status, int64_t signal = 0) {
  hypercall_args().exit.status = status;
  hypercall_args().exit.signal = signal;
  hypercall(abi::Hypercall::kExit);
  for (;;) asm volatile("hlt");
}

}  // namespace hyperlet::kernel
