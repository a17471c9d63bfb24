// Parsing and validating an app's ELF file. Works on bytes only (no KVM, no guest
// memory), so every malformed or hostile header is unit-tested.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace hyperlet {

struct LoadSegment {
  std::uint64_t virtual_address;  // as in the file (before the load bias)
  std::uint64_t file_offset;
  std::uint64_t file_size;
  std::uint64_t memory_size;
  bool executable;
  bool writable;
};

struct ElfFile {
  bool position_independent;  // ET_DYN (static-pie): placed at abi::kPieLoadBase
  std::uint64_t entry;        // as in the file
  std::uint64_t program_headers_address;  // as in the file; 0 if not loaded
  std::uint16_t program_header_count;
  std::uint16_t program_header_size;
  std::vector<LoadSegment> segments;  // sorted by address, non-overlapping
  std::uint64_t lowest_address;       // page-aligned down
  std::uint64_t highest_address;      // end of the last segment's memory
};

enum class ElfKind {
  kProgram,        // must have an entry point inside an executable segment
  kSharedObject,   // e.g. the vDSO: no entry point needed
};

// `name` appears in messages ("hello: not an ELF file").
Result<ElfFile> parse_elf(std::span<const std::byte> file, const std::string& name,
                          ElfKind kind = ElfKind::kProgram);

}  // namespace hyperlet
