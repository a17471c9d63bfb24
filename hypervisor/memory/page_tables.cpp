#include "memory/page_tables.h"

#include <vector>

#include <hyperlet/abi.h>

namespace hyperlet {
namespace {

constexpr std::uint64_t kPage = abi::kPageSize;
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
    const std::uint64_t directory = layout.page_directories + (table / 512) * kPage;
    entry_at(directory + (table % 512) * 8) =
        (layout.page_tables + table * kPage) | kTableFlags | pte::kAccessed;
  }
  for (std::uint64_t address = 0; address < layout.memory_size; address += kPage) {
    const std::uint64_t flags = page_flags(layout, address);
    entry_at(layout.page_tables + address / kPage * 8) = flags == 0 ? 0 : (address | flags | kPrefetchable);
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
  }
  return Translation{table | (virtual_address & (kPage - 1)), flags};
}

}  // namespace hyperlet
