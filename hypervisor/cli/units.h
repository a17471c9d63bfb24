// Parsing the sizes and durations users type: "64M", "1G", "500ms", "2s", "1m".
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace hyperlet {

// Bytes. Suffixes K, M, G (powers of 1024), case-insensitive, optional "iB"/"B"; bare = bytes.
// A decimal fraction is allowed ("1.5G" = 1536M) when the result is a whole number of bytes.
std::expected<std::uint64_t, std::string> parse_size(std::string_view text);

// ns, us, ms, s, m, h; a bare number is seconds. Must be positive.
std::expected<std::chrono::nanoseconds, std::string> parse_duration(std::string_view text);

// --cpus: a whole number from 1 to `limit` (the host's CPUs, at most abi::kMaxCpus).
// The error says what is wrong and what would do.
std::expected<unsigned, std::string> parse_cpu_count(std::string_view text, unsigned limit);

}  // namespace hyperlet
