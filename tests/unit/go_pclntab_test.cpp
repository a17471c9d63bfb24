// go_function_ranges (loader/go_pclntab.cpp): synthetic tables in each layout Go
// has written, damaged ones (they give nothing, never a wrong range), and Debian's
// gojq, a stripped Go program, read whole through code_map_from_elf and the site
// analysis.
#include "loader/go_pclntab.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "loader/app_image.h"
#include "loader/code_map.h"
#include "loader/syscall_sites.h"

namespace hyperlet {
namespace {

using ::testing::ElementsAre;

class Table {
 public:
  void u8(std::uint8_t value) { bytes_.push_back(static_cast<std::byte>(value)); }
  void u32(std::uint32_t value) { append(&value, sizeof value); }
  void u64(std::uint64_t value) { append(&value, sizeof value); }
  void header(std::uint32_t magic) {
    u32(magic);
    u8(0), u8(0), u8(1), u8(8);  // pads, minimum instruction size, pointer size
  }
  std::size_t size() const { return bytes_.size(); }
  void patch_u64(std::size_t offset, std::uint64_t value) { std::memcpy(bytes_.data() + offset, &value, sizeof value); }
  std::span<const std::byte> bytes() const { return bytes_; }

 private:
  void append(const void* data, std::size_t size) {
    const auto* start = static_cast<const std::byte*>(data);
    bytes_.insert(bytes_.end(), start, start + size);
  }
  std::vector<std::byte> bytes_;
};

// Go 1.18 on: entry offsets from textStart, as uint32 pairs after the header.
Table go118(std::uint32_t magic, std::uint64_t text_start, const std::vector<std::uint32_t>& entries) {
  Table table;
  table.header(magic);
  table.u64(entries.size() - 1);  // nfunc: the last entry is the end of text
  table.u64(0);                   // nfiles
  table.u64(text_start);
  for (int offset = 0; offset < 4; ++offset) table.u64(0);  // funcname, cu, filetab, pctab
  table.u64(table.size() + 8);                              // pclnOffset: right after this word
  for (std::uint32_t entry : entries) table.u32(entry), table.u32(0);
  return table;
}

TEST(GoPclntab, Go118And120TablesGiveEachFunctionUpToTheNext) {
  for (std::uint32_t magic : {0xfffffff0u, 0xfffffff1u}) {
    const Table table = go118(magic, 0x401000, {0, 0x40, 0x40, 0x100, 0x180});
    // An empty function (two equal entries) is skipped.
    EXPECT_THAT(go_function_ranges(table.bytes(), 0x999000),
                ElementsAre(AddressRange{0x401000, 0x40}, AddressRange{0x401040, 0xc0}, AddressRange{0x401100, 0x80}))
        << std::hex << magic;
  }
}

TEST(GoPclntab, ATableWithoutTextStartUsesTheTextSection) {
  const Table table = go118(0xfffffff1, 0, {0, 0x10, 0x30});
  EXPECT_THAT(go_function_ranges(table.bytes(), 0x402000),
              ElementsAre(AddressRange{0x402000, 0x10}, AddressRange{0x402010, 0x20}));
}

TEST(GoPclntab, Go116TablesHoldAbsoluteEntries) {
  Table table;
  table.header(0xfffffffa);
  table.u64(2);                                             // nfunc
  table.u64(0);                                             // nfiles
  for (int offset = 0; offset < 4; ++offset) table.u64(0);  // funcname, cu, filetab, pctab
  table.u64(table.size() + 8);                              // pclnOffset
  for (std::uint64_t entry : {0x401000, 0x401020, 0x401090}) table.u64(entry), table.u64(0);
  EXPECT_THAT(go_function_ranges(table.bytes(), 0),
              ElementsAre(AddressRange{0x401000, 0x20}, AddressRange{0x401020, 0x70}));
}

TEST(GoPclntab, Go12TablesFollowTheHeader) {
  Table table;
  table.header(0xfffffffb);
  table.u64(1);  // nfunc
  for (std::uint64_t entry : {0x401000, 0x401400}) table.u64(entry), table.u64(0);
  EXPECT_THAT(go_function_ranges(table.bytes(), 0), ElementsAre(AddressRange{0x401000, 0x400}));
}

TEST(GoPclntab, DamagedTablesGiveNothingWrong) {
  EXPECT_TRUE(go_function_ranges({}, 0x401000).empty());
  // An unknown magic, a 32-bit table, and non-zero pads.
  for (auto edit :
       {+[](Table& t) { t.patch_u64(0, 0x0000000012345678); }, +[](Table& t) { t.patch_u64(0, 0x04010000fffffff1); },
        +[](Table& t) { t.patch_u64(0, 0x08010100fffffff1); }}) {
    Table table = go118(0xfffffff1, 0x401000, {0, 0x40, 0x80});
    edit(table);
    EXPECT_TRUE(go_function_ranges(table.bytes(), 0x401000).empty());
  }
  // A function count far beyond the table: only what is there is read.
  Table counted = go118(0xfffffff1, 0x401000, {0, 0x40, 0x80});
  counted.patch_u64(8, 1000);
  EXPECT_THAT(go_function_ranges(counted.bytes(), 0),
              ElementsAre(AddressRange{0x401000, 0x40}, AddressRange{0x401040, 0x40}));
  // An absurd count, and a function table beyond the section (or wrapping around).
  Table absurd = go118(0xfffffff1, 0x401000, {0, 0x40});
  absurd.patch_u64(8, ~0ull);
  EXPECT_TRUE(go_function_ranges(absurd.bytes(), 0).empty());
  for (std::uint64_t offset : {std::uint64_t{1} << 40, ~std::uint64_t{0} - 3}) {
    Table far = go118(0xfffffff1, 0x401000, {0, 0x40});
    far.patch_u64(8 + 7 * 8, offset);
    EXPECT_TRUE(go_function_ranges(far.bytes(), 0).empty());
  }
  // Entries that go backwards end the walk at the last good function.
  const Table backwards = go118(0xfffffff1, 0x401000, {0, 0x40, 0x20, 0x80});
  EXPECT_THAT(go_function_ranges(backwards.bytes(), 0), ElementsAre(AddressRange{0x401000, 0x40}));
}

// A real stripped Go program: its function table covers its code, and the site
// analysis finds its syscalls (syscall.Syscall6, runtime's raw ones) there.
TEST(GoPclntab, DebiansGojqHasItsSyscallSitesFound) {
  const char* path = "/usr/bin/gojq";
  if (::access(path, R_OK) != 0) GTEST_SKIP() << path << " is missing (Debian's gojq: scripts/install-deps)";
  auto image = AppImage::open(path);
  ASSERT_TRUE(image) << image.error().message;
  ASSERT_TRUE(image->read_code().has_value());
  ASSERT_TRUE(image->read_data().has_value());
  ASSERT_TRUE(image->read_code_map_tables().has_value());
  const CodeMap map = code_map_from_elf(image->bytes());
  ASSERT_GT(map.functions.size(), 1000u);
  const std::uint64_t entry = map.entry_points.front();
  EXPECT_TRUE(std::any_of(map.functions.begin(), map.functions.end(), [&](const AddressRange& function) {
    return entry >= function.start && entry - function.start < function.size;
  })) << "the entry point lies in a function";
  const SiteTable sites = find_syscall_sites(image->code_segments(), map, image->data_segments());
  std::size_t count = 0;
  for (const auto& segment : sites) count += segment.size();
  EXPECT_GE(count, 10u) << "a Go program makes its syscalls from a handful of assembly functions";
}

}  // namespace
}  // namespace hyperlet
