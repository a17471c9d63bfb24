// The arithmetic behind every check of an address or length the app hands the
// guest kernel (user_memory.h applies it to the app's part of guest memory).
// Pure and overflow-safe: no sum of two app-chosen numbers is ever compared,
// because such a sum can wrap past 2^64 and pass any upper bound (brk(~0) once
// did, and made kernel memory mappable). Host-compilable so it is unit-tested.
#pragma once

#include <stdint.h>

namespace hyperlet::kernel {

inline constexpr uint64_t kUserPageSize = 4096;

// [address, address + length) lies wholly inside [start, limit).
constexpr bool range_within(uint64_t address, uint64_t length, uint64_t start, uint64_t limit) {
  return address >= start && address <= limit && length <= limit - address;
}

// [address, address + length) and [start, limit) share a byte.
constexpr bool range_overlaps(uint64_t address, uint64_t length, uint64_t start, uint64_t limit) {
  if (length == 0 || start >= limit || address >= limit) return false;
  return address >= start || length > start - address;
}

// Rounds `length` up to whole pages; false (and `length` unchanged) when the
// rounded length would not fit in 64 bits, which Linux answers EINVAL or ENOMEM.
constexpr bool round_up_to_pages(uint64_t& length) {
  if (length > ~uint64_t{0} - (kUserPageSize - 1)) return false;
  length = (length + kUserPageSize - 1) & ~(kUserPageSize - 1);
  return true;
}

// An FS or GS base the app may set (arch_prctl, clone's CLONE_SETTLS). A base is
// only an offset for the app's own ring-3 accesses, which paging still checks, so
// Linux's rule applies: anything below TASK_SIZE_MAX. A non-canonical base must be
// refused before it reaches wrmsr, which would #GP in ring 0.
inline constexpr uint64_t kUserAddressLimit = (uint64_t{1} << 47) - kUserPageSize;  // TASK_SIZE_MAX
constexpr bool segment_base_ok(uint64_t base) { return base < kUserAddressLimit; }

}  // namespace hyperlet::kernel
