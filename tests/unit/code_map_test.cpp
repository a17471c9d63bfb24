// code_map_from_elf (loader/code_map.cpp) and the site analysis on a whole
// synthetic ELF: a .text holding two functions, a data table with 0f 05 bytes
// between them, and assembly without a size; read through AppImage as `run`
// and `hyperlet manifest` read it.
#include "loader/code_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "eh_frame_builder.h"
#include "elf_builder.h"
#include "loader/app_image.h"
#include "loader/syscall_sites.h"

namespace hyperlet {
namespace {

using ::testing::ElementsAre;
using testing::ElfImage;
using testing::to_bytes;

constexpr std::uint64_t kText = 0x401000;
constexpr std::uint64_t kEhFrameAddress = 0x400100;

Elf64_Shdr section(std::uint32_t name, std::uint32_t type, std::uint64_t flags, std::uint64_t address,
                   std::uint64_t offset, std::uint64_t size, std::uint32_t link = 0, std::uint64_t entry_size = 0) {
  Elf64_Shdr header{};
  header.sh_name = name;
  header.sh_type = type;
  header.sh_flags = flags;
  header.sh_addr = address;
  header.sh_offset = offset;
  header.sh_size = size;
  header.sh_link = link;
  header.sh_entsize = entry_size;
  return header;
}

Elf64_Sym symbol(std::uint32_t name, unsigned char type, std::uint64_t value, std::uint64_t size) {
  Elf64_Sym sym{};
  sym.st_name = name;
  sym.st_info = ELF64_ST_INFO(STB_GLOBAL, type);
  sym.st_shndx = 1;  // .text
  sym.st_value = value;
  sym.st_size = size;
  return sym;
}

std::vector<std::byte> planted_text() {
  std::vector<int> bytes = {
      0xb8, 0x27, 0x00, 0x00, 0x00,                    // 0x00 first (FDE): mov eax, 39
      0x0f, 0x05,                                      // 0x05 syscall
      0xc3,                                            // 0x07 ret
      0x11, 0x22, 0x0f, 0x05, 0x0f, 0x05, 0x33, 0xc0,  // 0x08 a table, no symbol
      0x0f, 0x05,                                      // 0x10 second (FUNC, sized; the entry point): syscall
      0xc3,                                            // 0x12 ret
      0x90,                                            // 0x13
      0x0f, 0x05, 0x0f, 0x05,                          // 0x14 table (OBJECT symbol)
      0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,  // 0x18
      0x0f, 0x05,                                      // 0x20 raw (FUNC without .size): syscall
      0xc3,                                            // 0x22 ret
  };
  std::vector<std::byte> out;
  for (int b : bytes) out.push_back(static_cast<std::byte>(b));
  return out;
}

ElfImage planted_image() {
  ElfImage image = ElfImage::static_executable();  // entry 0x401010
  const std::string names = std::string("\0.text\0.eh_frame\0.symtab\0.strtab\0.shstrtab\0", 43);
  const std::string symbol_names = std::string("\0first\0second\0table\0raw\0", 24);
  image.add_blob(0x1000, planted_text());
  image.add_blob(0x100, testing::EhFrameBuilder(kEhFrameAddress).function(kText, 8).bytes());
  const std::vector<Elf64_Sym> symbols = {
      Elf64_Sym{}, symbol(7, STT_FUNC, kText + 0x10, 3),  // second
      symbol(14, STT_OBJECT, kText + 0x14, 4),            // table
      symbol(20, STT_FUNC, kText + 0x20, 0),              // raw
  };
  image.add_blob(0x2100, to_bytes(symbols));
  image.add_blob(0x2200, to_bytes(symbol_names));
  image.add_blob(0x2300, to_bytes(names));
  image.header.e_shoff = 0x2400;
  image.header.e_shstrndx = 5;
  image.section_headers = {
      Elf64_Shdr{},
      section(1, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, kText, 0x1000, 0x100),
      section(7, SHT_PROGBITS, SHF_ALLOC, kEhFrameAddress, 0x100, 0x60),
      section(17, SHT_SYMTAB, 0, 0, 0x2100, symbols.size() * sizeof(Elf64_Sym), 4, sizeof(Elf64_Sym)),
      section(25, SHT_STRTAB, 0, 0, 0x2200, symbol_names.size()),
      section(33, SHT_STRTAB, 0, 0, 0x2300, names.size()),
  };
  return image;
}

TEST(CodeMap, FromFdesSymbolsAndTheEntryPoint) {
  const auto file = planted_image().bytes();
  CodeMap map = code_map_from_elf(file);
  std::sort(map.functions.begin(), map.functions.end(),
            [](const AddressRange& a, const AddressRange& b) { return a.start < b.start; });
  std::sort(map.entry_points.begin(), map.entry_points.end());
  EXPECT_THAT(map.functions, ElementsAre(AddressRange{kText, 8}, AddressRange{kText + 0x10, 3}));
  EXPECT_THAT(map.entry_points, ElementsAre(kText + 0x10, kText + 0x20));
  EXPECT_THAT(map.data_objects, ElementsAre(AddressRange{kText + 0x14, 4}));
}

TEST(CodeMap, OnlyCodeIsRewritten) {
  const auto file = planted_image().bytes();
  const auto text = std::span(file).subspan(0x1000, 0x100);
  const SiteTable table = find_syscall_sites({CodeSegment{kText, text}}, code_map_from_elf(file));
  EXPECT_THAT(table, ElementsAre(ElementsAre(0x05u, 0x10u, 0x20u)));
  // What the linear sweep took for syscalls: the tables' bytes as well.
  EXPECT_THAT(sweep_syscall_sites(text), ElementsAre(0x05u, 0x0au, 0x0cu, 0x10u, 0x14u, 0x16u, 0x20u));
}

// A stripped image (no section headers): only the entry point is known code.
TEST(CodeMap, WithoutSectionHeadersOnlyTheEntryPoint) {
  ElfImage image = planted_image();
  image.section_headers.clear();
  image.header.e_shoff = 0;
  const auto file = image.bytes();
  const CodeMap map = code_map_from_elf(file);
  EXPECT_TRUE(map.functions.empty());
  EXPECT_THAT(map.entry_points, ElementsAre(kText + 0x10));
}

// Hostile section headers: tables past the end of the file, a name table that
// is not one, symbol entries of the wrong size. Nothing is read out of bounds.
TEST(CodeMap, HostileSectionsAreIgnored) {
  ElfImage image = planted_image();
  image.section_headers[2].sh_offset = ~std::uint64_t{0} - 8;  // .eh_frame wraps
  image.section_headers[3].sh_size = 0x100000;                 // .symtab past the end
  image.section_headers[5].sh_type = SHT_PROGBITS;             // the names are not a string table
  const auto file = image.bytes();
  const CodeMap map = code_map_from_elf(file);
  EXPECT_TRUE(map.functions.empty());
  EXPECT_THAT(map.entry_points, ElementsAre(kText + 0x10));
}

// Through AppImage, which reads only what it is asked for: the code, then the
// tables the map needs.
TEST(CodeMap, AppImageReadsWhatTheMapNeeds) {
  const auto directory = std::filesystem::temp_directory_path() / ("hyperlet-code-map-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  const auto path = (directory / "planted").string();
  {
    const auto file = planted_image().bytes();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  }
  auto image = AppImage::open(path);
  ASSERT_TRUE(image.has_value()) << image.error().message;
  ASSERT_TRUE(image->read_code().has_value());
  ASSERT_TRUE(image->read_code_map_tables().has_value());
  const SiteTable table = find_syscall_sites(image->code_segments(), code_map_from_elf(image->bytes()));
  EXPECT_THAT(table, ElementsAre(ElementsAre(0x05u, 0x10u, 0x20u)));
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace hyperlet
