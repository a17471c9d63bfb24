// The identity-mapped 4-level page tables the guest runs on, built by the host
// before the first instruction (host writes into guest memory cost the guest
// nothing, unlike ring-0 work on kvm_pvm).
#pragma once

#include <cstdint>
#include <optional>

#include "memory/guest_layout.h"
#include "memory/guest_memory.h"

namespace hyperlet {

namespace pte {
inline constexpr std::uint64_t kPresent = 1ull << 0;
inline constexpr std::uint64_t kWritable = 1ull << 1;
inline constexpr std::uint64_t kUser = 1ull << 2;
inline constexpr std::uint64_t kAccessed = 1ull << 5;
inline constexpr std::uint64_t kDirty = 1ull << 6;
inline constexpr std::uint64_t kLargePage = 1ull << 7;
}  // namespace pte

// The leaf flags for one 4 KiB page under the layout (0 = not mapped).
std::uint64_t page_flags(const GuestLayout& layout, std::uint64_t address);

// 4 KiB tables where the app works (kernel region, image and heap, stack and the
// newest mmaps) and where pages differ; one 2 MiB PDE for each uniform region in
// between. So boot writes a bounded amount of tables whatever --memory is.
Result<void> build_page_tables(GuestMemory& memory, const GuestLayout& layout);

// True when every page of the 2 MiB region at `region_start` has the same flags.
bool region_is_uniform(const GuestLayout& layout, std::uint64_t region_start);
// True when build_page_tables maps the region with one large PDE.
bool region_gets_large_page(const GuestLayout& layout, std::uint64_t region_start);

struct Translation {
  std::uint64_t physical;
  std::uint64_t flags;  // the leaf entry's flags ANDed with every level's P/W/U
};

// Walks the tables the way the CPU would (used by tests and fault reports).
std::optional<Translation> translate(const GuestMemory& memory, std::uint64_t cr3,
                                     std::uint64_t virtual_address);

}  // namespace hyperlet
