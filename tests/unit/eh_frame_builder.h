// Builds .eh_frame sections for the loader tests: one CIE ("zR", pc-relative
// sdata4 pointers, as GCC and Clang write them) and FDEs naming code ranges.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace hyperlet::testing {

class EhFrameBuilder {
 public:
  explicit EhFrameBuilder(std::uint64_t section_address) : address_(section_address) {
    const std::size_t start = begin_entry();
    put<std::uint32_t>(0);           // CIE id
    bytes_.push_back(std::byte{1});  // version
    for (char c : {'z', 'R', '\0'}) bytes_.push_back(static_cast<std::byte>(c));
    bytes_.push_back(std::byte{1});     // code alignment (uleb128)
    bytes_.push_back(std::byte{0x78});  // data alignment -8 (sleb128)
    bytes_.push_back(std::byte{16});    // return address register
    bytes_.push_back(std::byte{1});     // augmentation data length
    bytes_.push_back(std::byte{0x1b});  // FDE pointers: pc-relative sdata4
    end_entry(start);
    cie_offset_ = start;
  }

  // An FDE for [start, start + size).
  EhFrameBuilder& function(std::uint64_t start, std::uint32_t size) {
    const std::size_t entry = begin_entry();
    put<std::uint32_t>(static_cast<std::uint32_t>(bytes_.size() - cie_offset_));  // back to the CIE
    const std::uint64_t field_address = address_ + bytes_.size();
    put<std::int32_t>(static_cast<std::int32_t>(start - field_address));
    put<std::uint32_t>(size);
    bytes_.push_back(std::byte{0});  // augmentation data length
    end_entry(entry);
    return *this;
  }

  std::vector<std::byte> bytes() const {
    std::vector<std::byte> out = bytes_;
    for (int i = 0; i < 4; ++i) out.push_back(std::byte{0});  // the terminator
    return out;
  }

 private:
  template <typename T>
  void put(T value) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &value, sizeof(T));
  }
  std::size_t begin_entry() {
    const std::size_t start = bytes_.size();
    put<std::uint32_t>(0);  // length, filled in by end_entry
    return start;
  }
  void end_entry(std::size_t start) {
    while ((bytes_.size() - start) % 8 != 0) bytes_.push_back(std::byte{0});  // DW_CFA_nop
    const auto length = static_cast<std::uint32_t>(bytes_.size() - start - 4);
    std::memcpy(bytes_.data() + start, &length, sizeof(length));
  }

  std::uint64_t address_;
  std::size_t cie_offset_ = 0;
  std::vector<std::byte> bytes_;
};

}  // namespace hyperlet::testing
