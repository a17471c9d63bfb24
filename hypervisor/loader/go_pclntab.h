// The functions a Go program's .gopclntab describes. Go's linker writes no
// .eh_frame (before Go 1.21 not at all) and Debian strips .symtab, so for a Go
// binary this table, which the Go runtime itself needs for stack traces and
// garbage collection, is the one record of where its functions (assembly ones
// such as syscall.Syscall6 and runtime.clone included) start and end.
// Every offset is checked against the section: the image is untrusted.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "loader/eh_frame.h"

namespace hyperlet {

// `section` is the .gopclntab section's bytes; `text_address` the .text
// section's address (the base of function offsets where the table has none of
// its own). Understands the layouts of Go 1.2 to 1.15, 1.16/1.17 and 1.18 on
// (magics 0xfffffffb, 0xfffffffa, 0xfffffff0 and 0xfffffff1) for 64-bit
// pointers. Never fails: an unknown or damaged table gives no functions.
std::vector<AddressRange> go_function_ranges(std::span<const std::byte> section, std::uint64_t text_address);

}  // namespace hyperlet
