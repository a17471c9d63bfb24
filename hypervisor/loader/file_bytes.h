// Bounds-checked reads of fixed-size records from a file's bytes: every ELF
// header, section and note the loader looks at goes through here.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "core/checked_range.h"

namespace hyperlet {

template <typename T>
bool read_at(std::span<const std::byte> file, std::uint64_t offset, T& out) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (!range_fits(offset, sizeof(T), file.size())) return false;
  std::memcpy(&out, file.data() + offset, sizeof(T));
  return true;
}

}  // namespace hyperlet
