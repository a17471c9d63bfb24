// What an image says about which of its executable bytes are code: the
// functions its .eh_frame, symbol table and (a Go program's) .gopclntab describe, its entry point, and the
// data objects its symbol table places inside executable segments (OpenSSL's
// P-256 table lives in .text). The syscall-site analysis decodes from these and
// nowhere else, so a data table's `0f 05` bytes are never taken for a syscall.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "loader/eh_frame.h"

namespace hyperlet {

struct CodeMap {
  // Functions with a known extent: .eh_frame FDEs, sized STT_FUNC symbols and Go's function table
  // (link-time addresses; overlapping and duplicate ranges are fine).
  std::vector<AddressRange> functions = {};
  // Where code is known to start but not where it ends: the ELF entry point and
  // STT_FUNC symbols of size 0 (hand-written assembly without .size, e.g.
  // musl's __clone and __syscall_cp_asm).
  std::vector<std::uint64_t> entry_points = {};
  // Sized STT_OBJECT and STT_TLS symbols: data, never decoded, whatever else says code.
  std::vector<AddressRange> data_objects = {};
};

// From the ELF file's bytes as far as they have been read (section headers,
// section names, .eh_frame, .gopclntab, .symtab and its strings: AppImage::read_code_map_tables),
// the entry point from the ELF header. Never fails: what cannot be read is absent.
CodeMap code_map_from_elf(std::span<const std::byte> file);

}  // namespace hyperlet
