#pragma once

#include <hyperlet/abi.h>

namespace hyperlet::kernel {

inline abi::BootInfo& boot_info() {
  return *reinterpret_cast<abi::BootInfo*>(abi::kBootInfoAddr);
}

}  // namespace hyperlet::kernel
