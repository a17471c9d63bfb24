#include "memory/guest_layout.h"

#include <fmt/format.h>
#include <hyperlet/abi.h>

#include <algorithm>

namespace hyperlet {
namespace {

constexpr std::uint64_t kPage = abi::kPageSize;
constexpr std::uint64_t kTwoMiB = 2ull << 20;
constexpr std::uint64_t kOneGiB = 1ull << 30;
// The app must leave at least this much for its heap and mappings.
constexpr std::uint64_t kMinimumFreeMemory = 2ull << 20;

constexpr std::uint64_t page_up(std::uint64_t value) { return (value + kPage - 1) & ~(kPage - 1); }

constexpr std::uint64_t table_pages_for(std::uint64_t memory_size) {
  return 2 + (memory_size + kOneGiB - 1) / kOneGiB + memory_size / kTwoMiB;
}

constexpr std::uint64_t stack_size_for(std::uint64_t memory_size) {
  return std::clamp<std::uint64_t>(memory_size / 16 & ~(kPage - 1), 256ull << 10, kMaximumStackSize);
}

// The smallest valid memory size an image ending at image_end fits in; 0 if none.
// Stack and page tables grow with the memory size, so this is a search, not a sum.
std::uint64_t smallest_fitting_memory(std::uint64_t image_end) {
  for (std::uint64_t size = kMinimumGuestMemory; size <= kMaximumGuestMemory; size += kTwoMiB) {
    const std::uint64_t reserved = table_pages_for(size) * kPage + stack_size_for(size) + kStackGuardSize;
    if (size >= reserved && size - reserved >= page_up(image_end) + kMinimumFreeMemory) return size;
  }
  return 0;
}

}  // namespace

std::optional<std::string> guest_memory_size_problem(std::uint64_t memory_size) {
  if (memory_size >= kMinimumGuestMemory && memory_size <= kMaximumGuestMemory && memory_size % kTwoMiB == 0) {
    return std::nullopt;
  }
  return fmt::format("must be a multiple of 2M between {}M and {}G", kMinimumGuestMemory >> 20,
                     kMaximumGuestMemory >> 30);
}

Result<GuestLayout> compute_guest_layout(std::uint64_t memory_size, std::uint64_t image_start, std::uint64_t image_end,
                                         std::uint64_t memory) {
  if (memory != 0 && memory != memory_size) {
    if (memory > memory_size) {
      return fail(ExitStatus::kUsage, "guest memory {} MiB is more than the address space, {} MiB (--address-space)",
                  memory >> 20, memory_size >> 20);
    }
    // The budget is the heap and mapping room a guest of `memory` alone has.
    auto alone = compute_guest_layout(memory, image_start, image_end);
    if (!alone) return std::unexpected(alone.error());
    auto layout = compute_guest_layout(memory_size, image_start, image_end);
    if (layout) {
      layout->memory_budget = alone->mmap_top - alone->heap_start;
      layout->memory = memory;
    }
    return layout;
  }
  if (auto problem = guest_memory_size_problem(memory_size)) {
    return fail(ExitStatus::kUsage, "invalid guest memory size {} bytes: {}", memory_size, *problem);
  }
  if (image_start < abi::kUserSpaceStart || image_end < image_start) {
    return fail(ExitStatus::kBadImage,
                "the image wants address {:#x}, below {:#x} where the guest kernel lives "
                "(link it at a higher address)",
                image_start, abi::kUserSpaceStart);
  }
  GuestLayout layout{};
  layout.memory_size = memory_size;
  layout.page_directory_count = (memory_size + kOneGiB - 1) / kOneGiB;
  layout.page_table_count = memory_size / kTwoMiB;
  const std::uint64_t table_pages = table_pages_for(memory_size);
  layout.page_tables_base = memory_size - table_pages * kPage;
  layout.pml4 = layout.page_tables_base;
  layout.pdpt = layout.pml4 + kPage;
  layout.page_directories = layout.pdpt + kPage;
  layout.page_tables = layout.page_directories + layout.page_directory_count * kPage;

  const std::uint64_t stack_size = stack_size_for(memory_size);
  layout.stack_top = layout.page_tables_base;
  layout.stack_bottom = layout.stack_top - stack_size;
  layout.mmap_top = layout.stack_bottom - kStackGuardSize;
  layout.image_start = image_start;
  layout.image_end = page_up(image_end);
  layout.heap_start = layout.image_end;
  layout.memory_budget = layout.mmap_top > layout.heap_start ? layout.mmap_top - layout.heap_start : 0;
  layout.memory = memory_size;
  if (layout.image_end > layout.mmap_top || layout.mmap_top - layout.image_end < kMinimumFreeMemory) {
    const std::uint64_t needed = smallest_fitting_memory(image_end);
    if (needed == 0) {
      return fail(ExitStatus::kGuestMemoryTooSmall,
                  "the app image ends at {:#x} and does not fit in the largest guest memory ({}G)", image_end,
                  kMaximumGuestMemory >> 30);
    }
    return fail(ExitStatus::kGuestMemoryTooSmall,
                "the app image ends at {:#x} and does not fit in {} MiB of guest memory "
                "(use --memory {}M or more)",
                image_end, memory_size >> 20, needed >> 20);
  }
  return layout;
}

}  // namespace hyperlet
