// Range checks on untrusted numbers: ELF offsets and sizes, manifest and
// syscall-site entries, guest addresses and lengths from hypercalls. Every
// such check goes through here, because the obvious `start + length <= end`
// wraps when a hostile start lies near 2^64 and then lets the range through.
#pragma once

#include <cstdint>
#include <optional>

namespace hyperlet {

// start + length, or nullopt when the sum does not fit in 64 bits.
constexpr std::optional<std::uint64_t> checked_add(std::uint64_t start, std::uint64_t length) {
  std::uint64_t sum = 0;
  if (__builtin_add_overflow(start, length, &sum)) return std::nullopt;
  return sum;
}

// count * size, or nullopt when the product does not fit in 64 bits.
constexpr std::optional<std::uint64_t> checked_multiply(std::uint64_t count, std::uint64_t size) {
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(count, size, &product)) return std::nullopt;
  return product;
}

// Whether [offset, offset + length) lies inside [0, size).
constexpr bool range_fits(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  return offset <= size && length <= size - offset;
}

// Whether [start, start + length) lies inside [region_start, region_start + region_size).
constexpr bool range_within(std::uint64_t start, std::uint64_t length, std::uint64_t region_start,
                            std::uint64_t region_size) {
  return start >= region_start && range_fits(start - region_start, length, region_size);
}

// Whether [start, start + length) lies inside [low, high).
constexpr bool range_between(std::uint64_t start, std::uint64_t length, std::uint64_t low, std::uint64_t high) {
  return high >= low && range_within(start, length, low, high - low);
}

}  // namespace hyperlet
