// The functions an image's .eh_frame describes: each FDE's initial location and
// address range, which the toolchain writes for every function compiled with
// unwind tables (the default on x86-64) and for hand-written assembly with CFI.
// Only the CIE and FDE headers are read (no call-frame instructions), and every
// length and pointer is checked against the section: the image is untrusted.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace hyperlet {

struct AddressRange {
  std::uint64_t start;
  std::uint64_t size;
  friend bool operator==(const AddressRange&, const AddressRange&) = default;
};

// `section` is the .eh_frame section's bytes and `section_address` its link-time
// address (pc-relative pointers are relative to it). Entries that cannot be read
// end the walk; FDEs with pointer encodings other than absolute or pc-relative,
// or with an empty range, are skipped. Never fails: what is unreadable is absent.
std::vector<AddressRange> eh_frame_function_ranges(std::span<const std::byte> section, std::uint64_t section_address);

}  // namespace hyperlet
