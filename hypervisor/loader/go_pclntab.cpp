#include "loader/go_pclntab.h"

#include "loader/file_bytes.h"

namespace hyperlet {
namespace {

constexpr std::uint32_t kGo12Magic = 0xfffffffb;
constexpr std::uint32_t kGo116Magic = 0xfffffffa;
constexpr std::uint32_t kGo118Magic = 0xfffffff0;
constexpr std::uint32_t kGo120Magic = 0xfffffff1;
constexpr std::uint8_t kPointerSize = 8;
// More functions than any real program has; a larger count is a damaged table.
constexpr std::uint64_t kMaxFunctions = 1u << 24;

struct Header {
  std::uint32_t magic;
  std::uint8_t pad1;
  std::uint8_t pad2;
  std::uint8_t min_instruction_size;
  std::uint8_t pointer_size;
};

std::uint64_t word_at(std::span<const std::byte> section, std::uint64_t offset, bool& ok) {
  std::uint64_t value = 0;
  ok = ok && read_at(section, offset, value);
  return value;
}

// Consecutive entry PCs, each function ending where the next begins; the table's
// last entry is the end of the last function. Entries out of order end the walk.
template <typename EntryAt>
std::vector<AddressRange> ranges_from_entries(std::uint64_t functions, EntryAt entry_at) {
  std::vector<AddressRange> ranges;
  bool ok = true;
  std::uint64_t start = entry_at(0, ok);
  for (std::uint64_t index = 1; ok && index <= functions; ++index) {
    const std::uint64_t end = entry_at(index, ok);
    if (!ok || end < start) break;
    if (end > start) ranges.push_back({start, end - start});
    start = end;
  }
  return ranges;
}

}  // namespace

std::vector<AddressRange> go_function_ranges(std::span<const std::byte> section, std::uint64_t text_address) {
  Header header;
  if (!read_at(section, 0, header) || header.pad1 != 0 || header.pad2 != 0 || header.pointer_size != kPointerSize) {
    return {};
  }
  bool ok = true;
  const std::uint64_t functions = word_at(section, 8, ok);
  if (!ok || functions == 0 || functions > kMaxFunctions) return {};
  switch (header.magic) {
    case kGo118Magic:
    case kGo120Magic: {
      // magic, pads, nfunc, nfiles, textStart, 5 offsets; the function table
      // holds (entry offset from textStart, func data offset) as uint32 pairs.
      std::uint64_t text_start = word_at(section, 8 + 2 * kPointerSize, ok);
      const std::uint64_t table = word_at(section, 8 + 7 * kPointerSize, ok);
      if (!ok || table >= section.size()) return {};
      if (text_start == 0) text_start = text_address;
      return ranges_from_entries(functions, [&](std::uint64_t index, bool& read) {
        std::uint32_t offset = 0;
        read = read && read_at(section, table + index * 8, offset);
        return text_start + offset;
      });
    }
    case kGo116Magic: {
      // magic, pads, nfunc, nfiles, 5 offsets; (entry PC, func offset) as words.
      const std::uint64_t table = word_at(section, 8 + 6 * kPointerSize, ok);
      if (!ok || table >= section.size()) return {};
      return ranges_from_entries(functions, [&](std::uint64_t index, bool& read) {
        return word_at(section, table + index * 2 * kPointerSize, read);
      });
    }
    case kGo12Magic:
      // magic, pads, nfunc, then (entry PC, func offset) as words.
      return ranges_from_entries(functions, [&](std::uint64_t index, bool& read) {
        return word_at(section, 8 + kPointerSize + index * 2 * kPointerSize, read);
      });
    default:
      return {};
  }
}

}  // namespace hyperlet
