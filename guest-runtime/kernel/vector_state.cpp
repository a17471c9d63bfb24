#include "vector_state.h"

#include <hyperlet/abi.h>

#include "boot_info.h"
#include "hypercall.h"

namespace hyperlet::kernel {
namespace {

bool through_host() { return (boot_info().flags & abi::kBootFlagHostVectorState) != 0; }

int64_t host_vector_state(uint64_t save_address, uint64_t load_address) {
  abi::VectorStateArgs& args = hypercall_args().vector_state;
  args = abi::VectorStateArgs{save_address, load_address, vector_state_size(), 0};
  hypercall(abi::Hypercall::kVectorState);
  return hypercall_args().vector_state.result;
}

}  // namespace

uint64_t vector_state_features() { return boot_info().xsave_features; }

uint32_t vector_state_size() {
  const abi::BootInfo& info = boot_info();
  if (info.xsave_features == 0) return 512;
  if (info.xsave_size != 0) return info.xsave_size;
  // A host that did not write xsave_size: CPUID leaf 0xD, which hardware KVM answers.
  uint32_t eax = 0xd, ebx = 0, ecx = 0, edx = 0;
  asm volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  return ebx;
}

void save_vector_registers(void* area) {
  const uint64_t features = vector_state_features();
  if (features == 0) {
    asm volatile("fxsave64 (%0)" : : "r"(area) : "memory");
  } else if (through_host()) {
    host_vector_state(reinterpret_cast<uint64_t>(area), 0);
  } else {
    asm volatile("xsave64 (%0)"
                 :
                 : "r"(area), "a"(static_cast<uint32_t>(features)), "d"(static_cast<uint32_t>(features >> 32))
                 : "memory");
  }
}

bool load_vector_registers(const void* area) {
  const uint64_t features = vector_state_features();
  if (features == 0) {
    asm volatile("fxrstor64 (%0)" : : "r"(area) : "memory");
    return true;
  }
  if (through_host()) return host_vector_state(0, reinterpret_cast<uint64_t>(area)) == 0;
  asm volatile("xrstor64 (%0)"
               :
               : "r"(area), "a"(static_cast<uint32_t>(features)), "d"(static_cast<uint32_t>(features >> 32))
               : "memory");
  return true;
}

void switch_vector_registers(void* save_area, const void* load_area) {
  if (vector_state_features() != 0 && through_host()) {
    host_vector_state(reinterpret_cast<uint64_t>(save_area), reinterpret_cast<uint64_t>(load_area));
    return;
  }
  if (save_area != nullptr) save_vector_registers(save_area);
  load_vector_registers(load_area);
}

}  // namespace hyperlet::kernel
