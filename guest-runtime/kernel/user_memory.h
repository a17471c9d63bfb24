// Checks on pointers the app hands to the kernel. Guest memory is identity-mapped,
// so a user pointer is usable once it lies wholly inside the app's part of memory,
// outside the unmapped guard below the stack, and (only while the app has any)
// off pages it made PROT_NONE: touching those from ring 0 would be a kernel page
// fault instead of EFAULT.
#pragma once

#include <stdint.h>

#include "boot_info.h"

namespace hyperlet::kernel {

// memory.cpp: pages currently made not-present by mprotect/mmap(PROT_NONE), and
// whether every page of a range is present in the page tables.
extern uint64_t protected_pages;
bool user_pages_present(uint64_t address, uint64_t length);

// In the app's memory and off the stack guard, whether or not its pages are
// present: what calls that change mappings (munmap, mprotect) check.
inline bool user_range_mappable(uint64_t address, uint64_t length) {
  const uint64_t end = address + length;
  const abi::BootInfo& info = boot_info();
  const bool in_app = end >= address && address >= abi::kUserSpaceStart && end <= info.page_tables_base;
  const bool touches_guard = address < info.stack_bottom && end > info.mmap_top;
  return in_app && !touches_guard;
}

// What the kernel may read or write for the app.
inline bool user_range_ok(uint64_t address, uint64_t length) {
  return user_range_mappable(address, length) &&
         (protected_pages == 0 || user_pages_present(address, length));
}

template <typename T>
T* user_pointer(uint64_t address, uint64_t count = 1) {
  if (count > (1ull << 40) / sizeof(T) || !user_range_ok(address, sizeof(T) * count)) return nullptr;
  return reinterpret_cast<T*>(address);
}

}  // namespace hyperlet::kernel
