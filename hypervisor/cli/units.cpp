#include "cli/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace hyperlet {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::expected<std::uint64_t, std::string> parse_size(std::string_view text) {
  std::uint64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end == text.data()) {
    return std::unexpected(fmt::format("'{}' is not a size (examples: 64M, 1G, 512K)", text));
  }
  const std::string suffix = lower(std::string_view(end, text.data() + text.size() - end));
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
  if (number > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
    return std::unexpected(fmt::format("'{}' is too large", text));
  }
  return number << shift;
}

std::expected<std::chrono::nanoseconds, std::string> parse_duration(std::string_view text) {
  double number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end == text.data() || !std::isfinite(number)) {
    return std::unexpected(fmt::format("'{}' is not a duration (examples: 500ms, 2s, 1m)", text));
  }
  const std::string suffix = lower(std::string_view(end, text.data() + text.size() - end));
  double scale = 0;
  if (suffix.empty() || suffix == "s") scale = 1e9;
  else if (suffix == "ms") scale = 1e6;
  else if (suffix == "us") scale = 1e3;
  else if (suffix == "ns") scale = 1;
  else if (suffix == "m") scale = 60e9;
  else if (suffix == "h") scale = 3600e9;
  else return std::unexpected(fmt::format("'{}' has an unknown unit (use ms, s, m or h)", text));
  const double nanoseconds = number * scale;
  if (nanoseconds < 1) return std::unexpected(fmt::format("'{}' must be positive", text));
  if (nanoseconds > 1e18) return std::unexpected(fmt::format("'{}' is too long", text));
  return std::chrono::nanoseconds(static_cast<std::int64_t>(nanoseconds));
}

}  // namespace hyperlet
