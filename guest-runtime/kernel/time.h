#pragma once

#include <hyperlet/abi.h>
#include <hyperlet/pvclock.h>

namespace hyperlet::kernel {

inline uint64_t kvmclock_ns() {
  return pvclock::nanoseconds(*reinterpret_cast<const pvclock::TimeInfo*>(abi::kPvclockAddr));
}

}  // namespace hyperlet::kernel
