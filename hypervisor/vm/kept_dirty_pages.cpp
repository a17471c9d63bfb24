#include "vm/kept_dirty_pages.h"

#include <bit>

namespace hyperlet {

bool KeptDirtyPages::protect_now(std::span<const std::uint64_t> written) {
  std::uint64_t pages = 0;
  for (const std::uint64_t word : written) pages += static_cast<std::uint64_t>(std::popcount(word));
  if (pages > kMaxKeptPages || ++resets_since_protection_ >= kResetsBetweenProtections) {
    resets_since_protection_ = 0;
    return true;
  }
  return false;
}

}  // namespace hyperlet
