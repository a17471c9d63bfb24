#include "loader/elf_file.h"

#include <elf.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "elf_builder.h"
#include "test_printers.h"

namespace hyperlet {
namespace {

using ::testing::HasSubstr;
using testing::ElfImage;
using testing::program_header;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

Result<ElfFile> parse(const std::vector<std::byte>& bytes, const std::string& name = "app") {
  return parse_elf(bytes, name);
}

Result<ElfFile> parse(const ElfImage& image) { return parse(image.bytes()); }

// Asserts that parsing fails with kBadImage and a message containing `fragment`.
void expect_bad_image(const Result<ElfFile>& result, const std::string& fragment) {
  ASSERT_FALSE(result.has_value()) << "parsed an image that should be rejected";
  EXPECT_EQ(result.error().status, ExitStatus::kBadImage);
  EXPECT_THAT(result.error().message, HasSubstr(fragment));
}

// ---- Not an ELF at all ----

TEST(ParseElf, RejectsRandomBytes) {
  std::mt19937 generator(42);
  std::vector<std::byte> bytes(4096);
  for (auto& b : bytes) b = static_cast<std::byte>(generator() & 0xff);
  bytes[0] = std::byte{0x12};  // make sure it does not start with the magic by chance
  expect_bad_image(parse(bytes, "noise"), "cannot run noise: not an ELF file");
}

TEST(ParseElf, RejectsEmptyFile) {
  expect_bad_image(parse({}, "empty"), "cannot run empty: not an ELF file");
}

TEST(ParseElf, RejectsThreeBytesOfMagic) {
  const std::vector<std::byte> bytes = {std::byte{0x7f}, std::byte{'E'}, std::byte{'L'}};
  expect_bad_image(parse(bytes), "not an ELF file");
}

TEST(ParseElf, RejectsTextFile) {
  expect_bad_image(parse(testing::to_bytes("#!/bin/sh\necho hello\n")), "not an ELF file");
}

TEST(ParseElf, RejectsTruncatedHeader) {
  auto bytes = ElfImage::static_executable().bytes();
  bytes.resize(sizeof(Elf64_Ehdr) - 1);
  expect_bad_image(parse(bytes), "truncated ELF header");
  bytes.resize(SELFMAG);
  expect_bad_image(parse(bytes), "truncated ELF header");
}

// ---- Wrong kind of ELF ----

TEST(ParseElf, Rejects32BitClass) {
  auto image = ElfImage::static_executable();
  image.header.e_ident[EI_CLASS] = ELFCLASS32;
  expect_bad_image(parse(image), "a 32-bit ELF file");
}

TEST(ParseElf, RejectsBigEndian) {
  auto image = ElfImage::static_executable();
  image.header.e_ident[EI_DATA] = ELFDATA2MSB;
  expect_bad_image(parse(image), "a big-endian ELF file");
}

TEST(ParseElf, RejectsOtherMachine) {
  auto image = ElfImage::static_executable();
  image.header.e_machine = EM_AARCH64;
  const auto result = parse(image);
  expect_bad_image(result, "an ELF file for machine 183 (not x86-64)");
}

TEST(ParseElf, RejectsRelocatableObject) {
  auto image = ElfImage::static_executable();
  image.header.e_type = ET_REL;
  expect_bad_image(parse(image), "not an executable (an object file or core dump?)");
}

TEST(ParseElf, RejectsCoreDump) {
  auto image = ElfImage::static_executable();
  image.header.e_type = ET_CORE;
  expect_bad_image(parse(image), "not an executable");
}

TEST(ParseElf, RejectsWrongProgramHeaderEntrySize) {
  auto image = ElfImage::static_executable();
  image.header.e_phentsize = sizeof(Elf64_Phdr) - 24;  // an Elf32_Phdr's size
  expect_bad_image(parse(image), "unexpected program header size");
}

TEST(ParseElf, RejectsZeroProgramHeaders) {
  auto image = ElfImage::static_executable();
  image.program_headers.clear();
  expect_bad_image(parse(image), "bad program header count");
}

TEST(ParseElf, RejectsHugeProgramHeaderCount) {
  auto image = ElfImage::static_executable();
  image.set_counts = false;
  image.header.e_phnum = 0xffff;  // PN_XNUM
  expect_bad_image(parse(image), "bad program header count");
  image.header.e_phnum = 257;
  expect_bad_image(parse(image), "bad program header count");
}

TEST(ParseElf, RejectsProgramHeadersBeyondEndOfFile) {
  auto image = ElfImage::static_executable();
  image.header.e_phoff = image.file_size - 10;
  expect_bad_image(parse(image), "program headers lie outside the file");
}

TEST(ParseElf, RejectsProgramHeadersWhoseLastEntryIsTruncated) {
  auto image = ElfImage::static_executable();
  // The table starts inside the file; its third entry is 8 bytes short.
  image.header.e_phoff = image.file_size - 3 * sizeof(Elf64_Phdr) + 8;
  expect_bad_image(parse(image), "program headers lie outside the file");
  image.header.e_phoff = image.file_size - 3 * sizeof(Elf64_Phdr);  // exactly fits
  ASSERT_TRUE(parse(image).has_value());
}

TEST(ParseElf, RejectsProgramHeaderOffsetThatWrapsAround) {
  auto image = ElfImage::static_executable();
  image.header.e_phoff = kMax - 8;
  expect_bad_image(parse(image), "program headers lie outside the file");
}

TEST(ParseElf, RejectsInterpreter) {
  auto image = ElfImage::static_executable();
  image.program_headers.push_back(program_header(PT_INTERP, PF_R, 0x100, 0x400100, 0x1c, 0x1c, 1));
  expect_bad_image(parse(image), "dynamically linked; hyperlet runs static programs (link with -static)");
}

// ---- Bad segments ----

TEST(ParseElf, RejectsFileSizeLargerThanMemorySize) {
  auto image = ElfImage::static_executable();
  image.program_headers[2].p_filesz = 0x1001;
  expect_bad_image(parse(image), "a segment's file size exceeds its memory size");
}

TEST(ParseElf, RejectsSegmentBytesBeyondEndOfFile) {
  auto image = ElfImage::static_executable();
  image.program_headers[2].p_filesz = 0x1000;
  image.program_headers[2].p_memsz = 0x1000;
  image.file_size = 0x2fff;  // one byte short
  expect_bad_image(parse(image), "a segment's bytes lie outside the file");
}

TEST(ParseElf, AcceptsSegmentEndingExactlyAtEndOfFile) {
  auto image = ElfImage::static_executable();
  image.program_headers[2].p_filesz = 0x1000;
  image.file_size = 0x3000;
  ASSERT_TRUE(parse(image).has_value()) << parse(image).error().message;
}

TEST(ParseElf, RejectsHugeSegmentOffset) {
  auto image = ElfImage::static_executable();
  image.program_headers[2].p_offset = 0xffff'ffff'ffff'f000ull;  // offset + filesz would wrap
  image.program_headers[2].p_filesz = 0x1000;
  expect_bad_image(parse(image), "a segment's bytes lie outside the file");
}

TEST(ParseElf, RejectsSegmentAddressNearTopOfAddressSpace) {
  auto image = ElfImage::static_executable();
  image.program_headers[2].p_vaddr = 0xffff'ffff'ffff'f000ull;
  image.program_headers[2].p_offset = 0x2000;
  expect_bad_image(parse(image), "a segment's address range is out of bounds");
}

TEST(ParseElf, RejectsSegmentMemorySizeThatOverflows) {
  auto image = ElfImage::static_executable();
  image.program_headers[2].p_memsz = kMax - 0x401000;  // vaddr + memsz wraps past 2^64
  expect_bad_image(parse(image), "a segment's address range is out of bounds");
  image.program_headers[2].p_memsz = kMax;
  expect_bad_image(parse(image), "a segment's address range is out of bounds");
}

TEST(ParseElf, RejectsOverlappingSegments) {
  auto image = ElfImage::static_executable();
  image.program_headers[1].p_memsz = 0x1001;  // text runs one byte into data
  expect_bad_image(parse(image), "loadable segments overlap");
}

TEST(ParseElf, RejectsOverlappingSegmentsListedOutOfOrder) {
  auto image = ElfImage::static_executable();
  image.program_headers.push_back(program_header(PT_LOAD, PF_R, 0x0, 0x400000, 0x10, 0x10));
  expect_bad_image(parse(image), "loadable segments overlap");
}

TEST(ParseElf, AcceptsAdjacentSegments) {
  auto image = ElfImage::static_executable();
  image.program_headers[1].p_memsz = 0x1000;  // text ends exactly where data begins
  ASSERT_TRUE(parse(image).has_value());
}

TEST(ParseElf, RejectsEntryOutsideEverySegment) {
  auto image = ElfImage::static_executable();
  image.header.e_entry = 0x500000;
  expect_bad_image(parse(image), "the entry point lies outside every executable segment");
}

TEST(ParseElf, RejectsEntryJustPastExecutableSegment) {
  auto image = ElfImage::static_executable();
  image.header.e_entry = 0x401100;  // text is [0x401000, 0x401100)
  expect_bad_image(parse(image), "the entry point lies outside every executable segment");
}

TEST(ParseElf, RejectsEntryInNonExecutableSegment) {
  auto image = ElfImage::static_executable();
  image.header.e_entry = 0x402010;  // inside RW data
  expect_bad_image(parse(image), "the entry point lies outside every executable segment");
}

TEST(ParseElf, RejectsAddressAndOffsetDisagreeingModuloPage) {
  auto image = ElfImage::static_executable();
  image.program_headers[1].p_offset = 0x1010;
  expect_bad_image(parse(image), "a segment's address and file offset disagree modulo the page size");
}

TEST(ParseElf, AcceptsLargeAlignmentWhenPageOffsetsAgree) {
  // 2 MiB p_align is common; only the page offset has to agree.
  auto image = ElfImage::static_executable();
  for (auto& ph : image.program_headers) ph.p_align = 0x200000;
  ASSERT_TRUE(parse(image).has_value());
}

TEST(ParseElf, RejectsFileWithoutLoadableSegments) {
  auto image = ElfImage::static_executable();
  image.program_headers = {program_header(PT_NOTE, PF_R, 0x100, 0x400100, 0x20, 0x20, 4),
                           program_header(PT_LOAD, PF_R | PF_X, 0x1000, 0x401000, 0, 0)};
  expect_bad_image(parse(image), "no loadable segments");
}

// ---- Valid images ----

TEST(ParseElf, ParsesStaticExecutable) {
  auto image = ElfImage::static_executable();
  const auto result = parse(image);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  const ElfFile& elf = *result;
  EXPECT_FALSE(elf.position_independent);
  EXPECT_EQ(elf.entry, 0x401010u);
  EXPECT_EQ(elf.program_header_count, 3u);
  EXPECT_EQ(elf.program_header_size, sizeof(Elf64_Phdr));
  ASSERT_EQ(elf.segments.size(), 3u);
  EXPECT_EQ(elf.segments[0].virtual_address, 0x400000u);
  EXPECT_FALSE(elf.segments[0].executable);
  EXPECT_FALSE(elf.segments[0].writable);
  EXPECT_EQ(elf.segments[1].virtual_address, 0x401000u);
  EXPECT_EQ(elf.segments[1].file_offset, 0x1000u);
  EXPECT_EQ(elf.segments[1].file_size, 0x100u);
  EXPECT_EQ(elf.segments[1].memory_size, 0x100u);
  EXPECT_TRUE(elf.segments[1].executable);
  EXPECT_FALSE(elf.segments[1].writable);
  EXPECT_EQ(elf.segments[2].virtual_address, 0x402000u);
  EXPECT_EQ(elf.segments[2].file_size, 0x80u);
  EXPECT_EQ(elf.segments[2].memory_size, 0x1000u);
  EXPECT_FALSE(elf.segments[2].executable);
  EXPECT_TRUE(elf.segments[2].writable);
  EXPECT_EQ(elf.lowest_address, 0x400000u);
  EXPECT_EQ(elf.highest_address, 0x403000u);
  // No PT_PHDR: found through the first segment, which maps file offset 0.
  EXPECT_EQ(elf.program_headers_address, 0x400000u + sizeof(Elf64_Ehdr));
}

TEST(ParseElf, ParsesStaticPie) {
  auto image = ElfImage::static_executable();
  image.header.e_type = ET_DYN;
  image.header.e_entry = 0x1010;
  for (auto& ph : image.program_headers) {
    ph.p_vaddr -= 0x400000;
    ph.p_paddr = ph.p_vaddr;
  }
  const auto result = parse(image);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_TRUE(result->position_independent);
  EXPECT_EQ(result->entry, 0x1010u);
  EXPECT_EQ(result->lowest_address, 0u);
  EXPECT_EQ(result->highest_address, 0x3000u);
  EXPECT_EQ(result->program_headers_address, sizeof(Elf64_Ehdr));
}

TEST(ParseElf, SortsSegmentsByAddress) {
  auto image = ElfImage::static_executable();
  std::swap(image.program_headers[0], image.program_headers[2]);
  const auto result = parse(image);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  ASSERT_EQ(result->segments.size(), 3u);
  EXPECT_EQ(result->segments[0].virtual_address, 0x400000u);
  EXPECT_EQ(result->segments[1].virtual_address, 0x401000u);
  EXPECT_EQ(result->segments[2].virtual_address, 0x402000u);
  EXPECT_EQ(result->highest_address, 0x403000u);
}

TEST(ParseElf, LowestAddressIsPageAlignedDown) {
  auto image = ElfImage::static_executable();
  image.program_headers.erase(image.program_headers.begin());
  image.program_headers[0].p_offset = 0x1008;
  image.program_headers[0].p_vaddr = 0x401008;
  image.program_headers[0].p_filesz = image.program_headers[0].p_memsz = 0xf8;
  image.program_headers[1].p_memsz = 0x123;
  const auto result = parse(image);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->lowest_address, 0x401000u);
  EXPECT_EQ(result->highest_address, 0x402123u);  // not rounded up
  EXPECT_EQ(result->program_headers_address, 0u);  // no segment holds the headers
}

TEST(ParseElf, SkipsEmptyLoadSegments) {
  auto image = ElfImage::static_executable();
  image.program_headers.push_back(program_header(PT_LOAD, PF_R, 0, 0x401000, 0, 0));
  const auto result = parse(image);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->segments.size(), 3u);
  EXPECT_EQ(result->program_header_count, 4u);
}

TEST(ParseElf, ProgramHeadersAddressComesFromPtPhdr) {
  auto image = ElfImage::static_executable();
  // PT_PHDR wins over the segment containing e_phoff (deliberately different here).
  image.program_headers.push_back(program_header(PT_PHDR, PF_R, 0x40, 0x400080, 0xe0, 0xe0, 8));
  const auto result = parse(image);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->program_headers_address, 0x400080u);
}

TEST(ParseElf, ProgramHeadersAddressFromSegmentContainingThem) {
  auto image = ElfImage::static_executable();
  // Headers inside the text segment at file offset 0x1040 -> 0x401040.
  image.header.e_phoff = 0x1040;
  image.program_headers[1].p_filesz = image.program_headers[1].p_memsz = 0x200;
  const auto result = parse(image);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->program_headers_address, 0x401040u);
}

TEST(ParseElf, ProgramHeadersAddressIsZeroWhenOnlyPartlyLoaded) {
  auto image = ElfImage::static_executable();
  image.program_headers[0].p_filesz = image.program_headers[0].p_memsz =
      sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr) - 1;
  const auto result = parse(image);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->program_headers_address, 0u);
}

// ---- A real static binary ----

TEST(ParseElf, ParsesRealStaticBusybox) {
  const std::filesystem::path path = "/bin/busybox";
  std::ifstream in(path, std::ios::binary);
  if (!in) GTEST_SKIP() << "no /bin/busybox (install busybox-static)";
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  Elf64_Ehdr header;
  ASSERT_GE(bytes.size(), sizeof(header));
  std::memcpy(&header, bytes.data(), sizeof(header));

  const auto result = parse(bytes, "busybox");
  if (!result.has_value() && result.error().message.find("dynamically linked") != std::string::npos) {
    GTEST_SKIP() << "/bin/busybox is not static";
  }
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->position_independent, header.e_type == ET_DYN);
  EXPECT_EQ(result->entry, header.e_entry);
  EXPECT_EQ(result->program_header_count, header.e_phnum);
  EXPECT_NE(result->program_headers_address, 0u);
  ASSERT_FALSE(result->segments.empty());
  EXPECT_EQ(result->lowest_address, result->segments.front().virtual_address & ~0xfffull);
  EXPECT_EQ(result->highest_address,
            result->segments.back().virtual_address + result->segments.back().memory_size);
  bool entry_in_text = false;
  for (std::size_t i = 0; i < result->segments.size(); ++i) {
    const LoadSegment& s = result->segments[i];
    EXPECT_LE(s.file_size, s.memory_size);
    EXPECT_LE(s.file_offset + s.file_size, bytes.size());
    if (i > 0) {
      const LoadSegment& previous = result->segments[i - 1];
      EXPECT_LE(previous.virtual_address + previous.memory_size, s.virtual_address);
    }
    if (s.executable && header.e_entry >= s.virtual_address &&
        header.e_entry < s.virtual_address + s.memory_size) {
      entry_in_text = true;
    }
  }
  EXPECT_TRUE(entry_in_text);
}

}  // namespace
}  // namespace hyperlet
