// eh_frame_function_ranges (loader/eh_frame.cpp): the function ranges of an
// .eh_frame, from well-formed sections and from hostile ones.
#include "loader/eh_frame.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include "eh_frame_builder.h"

namespace hyperlet {
namespace {

using testing::EhFrameBuilder;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

void put_u32(std::vector<std::byte>& bytes, std::size_t at, std::uint32_t value) {
  std::memcpy(bytes.data() + at, &value, sizeof(value));
}

TEST(EhFrame, ReadsEachFdesRange) {
  const auto section = EhFrameBuilder(0x480000).function(0x401000, 0x40).function(0x401040, 0x123).bytes();
  EXPECT_THAT(eh_frame_function_ranges(section, 0x480000),
              ElementsAre(AddressRange{0x401000, 0x40}, AddressRange{0x401040, 0x123}));
}

// Code above the section (static-pie layouts) gives positive offsets.
TEST(EhFrame, PcRelativePointersEitherWay) {
  const auto section = EhFrameBuilder(0x1000).function(0x9000, 0x10).bytes();
  EXPECT_THAT(eh_frame_function_ranges(section, 0x1000), ElementsAre(AddressRange{0x9000, 0x10}));
}

TEST(EhFrame, EmptyAndTerminatorOnly) {
  EXPECT_THAT(eh_frame_function_ranges({}, 0), IsEmpty());
  EXPECT_THAT(eh_frame_function_ranges(std::vector<std::byte>(4), 0), IsEmpty());
  EXPECT_THAT(eh_frame_function_ranges(EhFrameBuilder(0).bytes(), 0), IsEmpty());
}

// An entry whose length runs past the section ends the walk; earlier FDEs stay.
TEST(EhFrame, LengthPastTheEndStopsTheWalk) {
  auto section = EhFrameBuilder(0x480000).function(0x401000, 0x40).function(0x401040, 0x10).bytes();
  put_u32(section, 0x18 + 0x18, 0x7ffffff0);  // the second FDE's length (CIE 0x18, FDE 0x18 bytes)
  EXPECT_THAT(eh_frame_function_ranges(section, 0x480000), ElementsAre(AddressRange{0x401000, 0x40}));
}

// A 64-bit length near 2^64: offset + length wraps, and must not be taken as small.
TEST(EhFrame, SixtyFourBitLengthThatWraps) {
  std::vector<std::byte> section(32);
  put_u32(section, 0, 0xffffffff);
  const std::uint64_t huge = ~std::uint64_t{0} - 4;
  std::memcpy(section.data() + 4, &huge, sizeof(huge));
  EXPECT_THAT(eh_frame_function_ranges(section, 0), IsEmpty());
}

// An FDE naming a CIE before the section's start, or a CIE that is an FDE.
TEST(EhFrame, BadCiePointersAreSkipped) {
  auto section = EhFrameBuilder(0x480000).function(0x401000, 0x40).function(0x401040, 0x10).bytes();
  put_u32(section, 0x18 + 4, 0x1000);           // first FDE: CIE before the section
  put_u32(section, 0x30 + 4, 0x30 + 4 - 0x18);  // second FDE: "CIE" is the first FDE
  EXPECT_THAT(eh_frame_function_ranges(section, 0x480000), IsEmpty());
}

// Pointer encodings other than absolute and pc-relative are not guessed at.
TEST(EhFrame, UnknownPointerEncodingSkipsItsFdes) {
  auto section = EhFrameBuilder(0x480000).function(0x401000, 0x40).bytes();
  section[0x10] = std::byte{0x3b};  // the CIE's 'R' encoding: datarel sdata4
  EXPECT_THAT(eh_frame_function_ranges(section, 0x480000), IsEmpty());
  section[0x10] = std::byte{0x1f};  // format 0xf: not a format
  EXPECT_THAT(eh_frame_function_ranges(section, 0x480000), IsEmpty());
}

// A range that would wrap past 2^64 is no range.
TEST(EhFrame, RangeThatWrapsIsSkipped) {
  const auto section = EhFrameBuilder(0).function(0xfffffffffffffff0, 0x40).bytes();
  EXPECT_THAT(eh_frame_function_ranges(section, 0), IsEmpty());
}

// Every truncation of a valid section parses without reading past it.
TEST(EhFrame, EveryTruncationIsSafe) {
  const auto section = EhFrameBuilder(0x480000).function(0x401000, 0x40).function(0x401040, 0x10).bytes();
  for (std::size_t size = 0; size <= section.size(); ++size) {
    const std::vector<std::byte> truncated(section.begin(), section.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_LE(eh_frame_function_ranges(truncated, 0x480000).size(), 2u);
  }
}

// The .eh_frame of a real static binary: many functions, all inside its code.
TEST(EhFrame, RealStaticBinary) {
  std::ifstream in("/bin/busybox", std::ios::binary);
  if (!in) GTEST_SKIP() << "no /bin/busybox (install busybox-static)";
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Elf64_Ehdr header;
  std::memcpy(&header, chars.data(), sizeof(header));
  Elf64_Shdr names;
  std::memcpy(&names, chars.data() + header.e_shoff + header.e_shstrndx * sizeof(Elf64_Shdr), sizeof(names));
  for (unsigned i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section;
    std::memcpy(&section, chars.data() + header.e_shoff + i * sizeof(section), sizeof(section));
    if (std::string_view(chars.data() + names.sh_offset + section.sh_name) != ".eh_frame") continue;
    const auto bytes = std::as_bytes(std::span(chars)).subspan(section.sh_offset, section.sh_size);
    const auto ranges = eh_frame_function_ranges(bytes, section.sh_addr);
    EXPECT_GT(ranges.size(), 100u);
    for (const AddressRange& range : ranges) {
      EXPECT_GE(range.start, 0x400000u);
      EXPECT_LT(range.size, 0x100000u);
    }
    return;
  }
  GTEST_SKIP() << "busybox has no .eh_frame";
}

}  // namespace
}  // namespace hyperlet
