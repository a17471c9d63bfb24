// Where everything goes in guest memory, computed from the memory size and the
// app image's extent. Pure arithmetic, so it is unit-tested without KVM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.h"

namespace hyperlet {

inline constexpr std::uint64_t kMinimumGuestMemory = 8ull << 20;
inline constexpr std::uint64_t kMaximumGuestMemory = 16ull << 30;
inline constexpr std::uint64_t kDefaultGuestMemory = 256ull << 20;
// A Go program's runtime reserves address space for its heap's metadata at
// start (a PROT_NONE mapping of about 512 MiB, "failed to reserve page summary
// memory" without it). Guest addresses are guest memory, so a reservation costs
// guest memory's size, though never host memory while untouched: Go programs
// get this default instead, and less than it is warned about.
inline constexpr std::uint64_t kGoRuntimeGuestMemory = 1ull << 30;
// A Go program's address space by default: its memory plus this much for those
// reservations, which are PROT_NONE and so cost no memory (--address-space).
inline constexpr std::uint64_t kGoRuntimeReservations = 1ull << 30;
inline constexpr std::uint64_t kStackGuardSize = 64ull << 10;
inline constexpr std::uint64_t kMaximumStackSize = 8ull << 20;

struct GuestLayout {
  // The guest's memory and address space (the memory slot): --address-space.
  std::uint64_t memory_size;
  // Bytes the app's heap and accessible mappings may take at once (--memory,
  // abi::BootInfo::memory_budget); reservations beyond it cost address space only.
  std::uint64_t memory_budget;
  std::uint64_t memory;  // --memory, the size the budget is computed from
  std::uint64_t image_start;
  std::uint64_t image_end;
  std::uint64_t heap_start;
  std::uint64_t mmap_top;  // == bottom of the stack guard
  std::uint64_t stack_bottom;
  std::uint64_t stack_top;
  // Page tables: [page_tables_base, memory_size), kernel-only.
  std::uint64_t page_tables_base;
  std::uint64_t pml4;
  std::uint64_t pdpt;
  std::uint64_t page_directories;  // one page per GiB
  std::uint64_t page_tables;       // one page per 2 MiB; PTE(A) = page_tables + A / 4096 * 8
  std::uint64_t page_directory_count;
  std::uint64_t page_table_count;
};

// Why a guest memory size cannot be used ("must be a multiple of 2M between 8M
// and 16G"), or nothing when it can: one rule for --memory, the manifest and
// `hyperlet manifest --memory`.
std::optional<std::string> guest_memory_size_problem(std::uint64_t memory_size);

// memory_size (the address space) must be a multiple of 2 MiB in
// [kMinimumGuestMemory, kMaximumGuestMemory]; so must `memory` (the budget, 0:
// all of it), at most memory_size. The budget is what the heap and mappings
// could hold in a guest of only `memory`, so that a run whose address space is
// its memory behaves as it always has.
Result<GuestLayout> compute_guest_layout(std::uint64_t memory_size, std::uint64_t image_start, std::uint64_t image_end,
                                         std::uint64_t memory = 0);

}  // namespace hyperlet
