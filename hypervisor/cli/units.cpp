#include "cli/units.h"

#include <fmt/format.h>
#include <hyperlet/abi.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace hyperlet {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Up to 9 decimals: 10^9 << 30 still fits in 64 bits.
constexpr int kMaxFractionDigits = 9;
constexpr std::uint64_t kMaxFractionScale = 1'000'000'000;

}  // namespace

std::expected<std::uint64_t, std::string> parse_size(std::string_view text) {
  std::uint64_t number = 0;
  const char* const text_end = text.data() + text.size();
  const auto [integer_end, error] = std::from_chars(text.data(), text_end, number);
  if (error != std::errc() || integer_end == text.data()) {
    return std::unexpected(fmt::format("'{}' is not a size (examples: 64M, 1G, 1.5G, 512K)", text));
  }
  // A decimal fraction ("1.5G") is kept as digits, not a double, so that the
  // size is exact and "is it a whole number of bytes" has an exact answer.
  std::uint64_t fraction = 0;
  std::uint64_t fraction_scale = 1;
  const char* end = integer_end;
  if (end != text_end && *end == '.') {
    ++end;
    const char* const digits = end;
    while (end != text_end && std::isdigit(static_cast<unsigned char>(*end))) {
      if (fraction_scale == kMaxFractionScale) {
        return std::unexpected(fmt::format("'{}' has more than {} decimals", text, kMaxFractionDigits));
      }
      fraction = fraction * 10 + static_cast<std::uint64_t>(*end - '0');
      fraction_scale *= 10;
      ++end;
    }
    if (end == digits) return std::unexpected(fmt::format("'{}' is not a size (examples: 64M, 1G, 1.5G, 512K)", text));
  }
  const std::string suffix = lower(std::string_view(end, static_cast<std::size_t>(text_end - end)));
  int shift = 0;
  if (suffix.empty() || suffix == "b") {
    shift = 0;
  } else if (suffix == "k" || suffix == "kb" || suffix == "kib") {
    shift = 10;
  } else if (suffix == "m" || suffix == "mb" || suffix == "mib") {
    shift = 20;
  } else if (suffix == "g" || suffix == "gb" || suffix == "gib") {
    shift = 30;
  } else {
    return std::unexpected(fmt::format("'{}' has an unknown unit (use K, M or G)", text));
  }
  // With a fraction the integer part must leave room for the fraction's bytes.
  const std::uint64_t largest = (std::numeric_limits<std::uint64_t>::max() >> shift) - (fraction != 0 ? 1 : 0);
  if (number > largest) {
    return std::unexpected(fmt::format("'{}' is too large", text));
  }
  // fraction < 10^9 and shift <= 30: fraction << shift fits in 64 bits.
  const std::uint64_t fraction_bytes = fraction << shift;
  if (fraction_bytes % fraction_scale != 0) {
    return std::unexpected(fmt::format("'{}' is not a whole number of bytes (write it in a smaller unit)", text));
  }
  return (number << shift) + fraction_bytes / fraction_scale;
}

std::expected<std::chrono::nanoseconds, std::string> parse_duration(std::string_view text) {
  double number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end == text.data() || !std::isfinite(number)) {
    return std::unexpected(fmt::format("'{}' is not a duration (examples: 500ms, 2s, 1m)", text));
  }
  const std::string suffix = lower(std::string_view(end, text.data() + text.size() - end));
  double scale = 0;
  if (suffix.empty() || suffix == "s")
    scale = 1e9;
  else if (suffix == "ms")
    scale = 1e6;
  else if (suffix == "us")
    scale = 1e3;
  else if (suffix == "ns")
    scale = 1;
  else if (suffix == "m")
    scale = 60e9;
  else if (suffix == "h")
    scale = 3600e9;
  else
    return std::unexpected(fmt::format("'{}' has an unknown unit (use ms, s, m or h)", text));
  const double nanoseconds = number * scale;
  if (nanoseconds < 1) return std::unexpected(fmt::format("'{}' must be positive", text));
  if (nanoseconds > 1e18) return std::unexpected(fmt::format("'{}' is too long", text));
  return std::chrono::nanoseconds(static_cast<std::int64_t>(nanoseconds));
}

std::expected<unsigned, std::string> parse_cpu_count(std::string_view text, unsigned limit) {
  if (text.empty()) return std::unexpected("'': give a number of vCPUs, e.g. --cpus 2");
  unsigned long long count = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::unexpected(fmt::format("'{}': not a whole number of vCPUs (e.g. --cpus 2)", text));
    }
    count = std::min<unsigned long long>(count * 10 + static_cast<unsigned>(c - '0'), 1'000'000);
  }
  if (count == 0) return std::unexpected(fmt::format("{}: a VM needs at least 1 vCPU", text));
  if (count > limit) {
    return std::unexpected(
        fmt::format("{}: at most {} here (the host's CPUs, and at most {} per VM)", text, limit, abi::kMaxCpus));
  }
  return static_cast<unsigned>(count);
}

}  // namespace hyperlet
