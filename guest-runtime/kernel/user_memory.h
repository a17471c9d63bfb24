// Checks on addresses and lengths the app hands to the kernel: the one place
// that decides what of guest memory a syscall may name, map, read or write.
// Every handler that takes a user address or length goes through these (and
// the overflow-safe arithmetic of user_range.h); none compares app-chosen
// numbers itself.
//
// Guest memory is identity-mapped, so a user pointer is usable once it lies
// wholly inside the app's part of memory, [kUserSpaceStart, page_tables_base),
// outside the unmapped guard below the stack, and (only while the app has any)
// off pages it made PROT_NONE. The kernel reads and writes user memory only
// after these checks, against the page tables it keeps itself, rather than
// recovering from a fault (an exception-fixup table): one vCPU and no
// interrupts in ring 0 mean nothing can change the page tables between the
// check and the access, the check costs nothing while no page is PROT_NONE,
// and every access stays plain C++ instead of going through fault-tolerant asm.
#pragma once

#include <stdint.h>

#include "boot_info.h"
#include "user_range.h"

namespace hyperlet::kernel {

// memory.cpp: pages currently made not-present by mprotect/mmap(PROT_NONE), and
// whether every page of a range is present in the page tables.
extern uint64_t protected_pages;
bool user_pages_present(uint64_t address, uint64_t length);

// Wholly inside the app's part of guest memory (its pages may be absent).
inline bool in_user_space(uint64_t address, uint64_t length) {
  return range_within(address, length, abi::kUserSpaceStart, boot_info().page_tables_base);
}

// In the app's memory and off the stack guard, whether or not its pages are
// present: what calls that change mappings (munmap, mprotect) check.
inline bool user_range_mappable(uint64_t address, uint64_t length) {
  const abi::BootInfo& info = boot_info();
  return in_user_space(address, length) && !range_overlaps(address, length, info.mmap_top, info.stack_bottom);
}

// What the kernel may read or write for the app.
inline bool user_range_ok(uint64_t address, uint64_t length) {
  return user_range_mappable(address, length) && (protected_pages == 0 || user_pages_present(address, length));
}

template <typename T>
T* user_pointer(uint64_t address, uint64_t count = 1) {
  if (count > (1ull << 40) / sizeof(T) || !user_range_ok(address, sizeof(T) * count)) return nullptr;
  return reinterpret_cast<T*>(address);
}

}  // namespace hyperlet::kernel
