// Reading kvmclock's pvclock page: nanoseconds since the VM was created, from
// rdtsc and the scale KVM publishes. Shared by the guest kernel and the vDSO so
// that both compute time the same way.
#pragma once

#include <stdint.h>

namespace hyperlet::pvclock {

struct TimeInfo {
  volatile uint32_t version;
  uint32_t pad0;
  volatile uint64_t tsc_timestamp;
  volatile uint64_t system_time;
  volatile uint32_t tsc_to_system_mul;
  volatile int8_t tsc_shift;
  volatile uint8_t flags;
  uint8_t pad[2];
};
static_assert(sizeof(TimeInfo) == 32);

inline uint64_t read_tsc() {
  uint32_t low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (static_cast<uint64_t>(high) << 32) | low;
}

inline uint64_t scale_delta(uint64_t delta, uint32_t mul, int8_t shift) {
  if (shift < 0) {
    delta >>= -shift;
  } else {
    delta <<= shift;
  }
  return static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * mul) >> 32);
}

inline uint64_t nanoseconds(const TimeInfo& info) {
  for (;;) {
    const uint32_t version = info.version;
    asm volatile("" ::: "memory");
    const uint64_t tsc = read_tsc();
    const uint64_t ns = info.system_time +
                        scale_delta(tsc - info.tsc_timestamp, info.tsc_to_system_mul, info.tsc_shift);
    asm volatile("" ::: "memory");
    if ((version & 1) == 0 && version == info.version) return ns;
  }
}

}  // namespace hyperlet::pvclock
