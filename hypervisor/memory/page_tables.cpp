#include "memory/page_tables.h"

#include <vector>

#include <hyperlet/abi.h>

namespace hyperlet {
namespace {

constexpr std::uint64_t kPage = abi::kPageSize;
constexpr std::uint64_t kRegion = 2ull << 20;
constexpr std::uint64_t kHotMargin = 16ull << 20;
constexpr std::uint64_t kAddressMask = 0x000f'ffff'ffff'f000ull;
constexpr std::uint64_t kTableFlags = pte::kPresent | pte::kWritable | pte::kUser;
// Entries are built with Accessed and Dirty already set: nobody reads those
// bits here, and KVM's shadow MMU (kvm_pvm) only prefetches neighbouring
// entries on a fault when they are marked accessed, so one fault can map up to
// eight pages instead of one.
constexpr std::uint64_t kPrefetchable = pte::kAccessed | pte::kDirty;

bool in(std::uint64_t address, std::uint64_t start, std::uint64_t end) {
  return address >= start && address < end;
}

}  // namespace

std::uint64_t page_flags(const GuestLayout& layout, std::uint64_t address) {
  if (address < kPage || address >= layout.memory_size) return 0;
  if (in(address, abi::kPvclockAddr, abi::kPvclockAddr + kPage) ||
      in(address, abi::kVdsoAddr, abi::kVdsoAddr + abi::kVdsoMaxSize)) {
    return pte::kPresent | pte::kUser;  // read-only for the app
  }
  if (address < abi::kUserSpaceStart) return pte::kPresent | pte::kWritable;
  if (in(address, layout.mmap_top, layout.stack_bottom)) return 0;  // stack guard
  if (address >= layout.page_tables_base) return pte::kPresent | pte::kWritable;
  return pte::kPresent | pte::kWritable | pte::kUser;
}

bool region_is_uniform(const GuestLayout& layout, std::uint64_t region_start) {
  // page_flags is constant between these addresses.
  const std::uint64_t boundaries[] = {
      kPage, abi::kPvclockAddr, abi::kPvclockAddr + kPage, abi::kVdsoAddr,
      abi::kVdsoAddr + abi::kVdsoMaxSize, abi::kUserSpaceStart, layout.mmap_top,
      layout.stack_bottom, layout.page_tables_base, layout.memory_size};
  for (std::uint64_t boundary : boundaries) {
    if (boundary > region_start && boundary < region_start + kRegion) return false;
  }
  return region_start != 0;  // page 0 is never mapped
}

bool region_gets_large_page(const GuestLayout& layout, std::uint64_t region_start) {
  // Measured on kvm_pvm: large guest pages where the app works cost more shadow
  // page faults and ~3,600 more emulated instructions per run (C++ hello: 75
  // faults instead of 52). So the hot ends of app memory (image and heap;
  // stack and recent mmaps) keep 4 KiB tables, and only the middle of a large
  // guest, which a run may never touch, gets 2 MiB pages.
  const bool near_heap = region_start < layout.heap_start + kHotMargin;
  const bool near_stack = region_start + kRegion + kHotMargin > layout.mmap_top;
  return !near_heap && !near_stack && region_is_uniform(layout, region_start);
}

Result<void> build_page_tables(GuestMemory& memory, const GuestLayout& layout) {
  const std::uint64_t table_bytes = layout.memory_size - layout.page_tables_base;
  auto region = memory.span(layout.page_tables_base, table_bytes);
  if (!region) return fail(ExitStatus::kUsage, "page tables do not fit in guest memory");
  auto* entries = reinterpret_cast<std::uint64_t*>(region->data());
  auto entry_at = [&](std::uint64_t address) -> std::uint64_t& {
    return entries[(address - layout.page_tables_base) / sizeof(std::uint64_t)];
  };

  entry_at(layout.pml4) = layout.pdpt | kTableFlags | pte::kAccessed;
  for (std::uint64_t gib = 0; gib < layout.page_directory_count; ++gib) {
    const std::uint64_t directory = layout.page_directories + gib * kPage;
    entry_at(layout.pdpt + gib * 8) = directory | kTableFlags | pte::kAccessed;
  }
  for (std::uint64_t table = 0; table < layout.page_table_count; ++table) {
    const std::uint64_t region_start = table * kRegion;
    // Page directories are contiguous, so the PDE of region r is at page_directories + r * 8.
    std::uint64_t& directory_entry = entry_at(layout.page_directories + table * 8);
    if (region_gets_large_page(layout, region_start)) {
      const std::uint64_t flags = page_flags(layout, region_start);
      directory_entry = flags == 0 ? 0 : (region_start | flags | kPrefetchable | pte::kLargePage);
      continue;
    }
    const std::uint64_t page_table = layout.page_tables + table * kPage;
    directory_entry = page_table | kTableFlags | pte::kAccessed;
    for (std::uint64_t address = region_start; address < region_start + kRegion; address += kPage) {
      const std::uint64_t flags = page_flags(layout, address);
      entry_at(page_table + (address - region_start) / kPage * 8) =
          flags == 0 ? 0 : (address | flags | kPrefetchable);
    }
  }
  return {};
}

std::optional<Translation> translate(const GuestMemory& memory, std::uint64_t cr3,
                                     std::uint64_t virtual_address) {
  if (virtual_address >> 48 != 0) return std::nullopt;
  std::uint64_t table = cr3 & kAddressMask;
  std::uint64_t flags = kTableFlags;
  for (int level = 3; level >= 0; --level) {
    const std::uint64_t index = (virtual_address >> (12 + 9 * level)) & 511;
    auto entry = memory.read<std::uint64_t>(table + index * 8);
    if (!entry || (*entry & pte::kPresent) == 0) return std::nullopt;
    flags &= *entry & kTableFlags;
    table = *entry & kAddressMask;
    if (level == 1 && (*entry & pte::kLargePage) != 0) {
      return Translation{(table & ~(kRegion - 1)) | (virtual_address & (kRegion - 1)), flags};
    }
  }
  return Translation{table | (virtual_address & (kPage - 1)), flags};
}

}  // namespace hyperlet
