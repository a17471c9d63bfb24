#include "loader/symbols.h"

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "elf_builder.h"

namespace hyperlet {
namespace {

using testing::ElfImage;

// .strtab, section headers, then .symtab last, ending exactly at the end of the file.
constexpr std::uint64_t kStrtabOffset = 0x2000;
constexpr std::uint64_t kSectionsOffset = 0x2400;
constexpr std::uint64_t kSymtabOffset = 0x2800;

Elf64_Sym symbol(std::uint32_t name, unsigned char type, std::uint64_t value, std::uint64_t size) {
  Elf64_Sym s{};
  s.st_name = name;
  s.st_info = ELF64_ST_INFO(STB_GLOBAL, type);
  s.st_shndx = 1;
  s.st_value = value;
  s.st_size = size;
  return s;
}

Elf64_Shdr section(std::uint32_t type, std::uint64_t offset, std::uint64_t size, std::uint32_t link,
                   std::uint64_t entsize) {
  Elf64_Shdr s{};
  s.sh_type = type;
  s.sh_offset = offset;
  s.sh_size = size;
  s.sh_link = link;
  s.sh_entsize = entsize;
  return s;
}

// String table: "\0_start\0main\0helper\0counter\0zero\0"
//                0 1      8     13      20       28
const std::string kStrings = std::string("\0_start\0main\0helper\0counter\0zero\0", 33);

struct SymbolImage {
  ElfImage image = ElfImage::static_executable();
  std::vector<Elf64_Sym> symbols;

  SymbolImage() {
    symbols = {
        Elf64_Sym{},                                  // index 0: the null symbol
        symbol(1, STT_FUNC, 0x401000, 0),             // _start, no size (assembly)
        symbol(8, STT_FUNC, 0x401100, 0x40),          // main
        symbol(13, STT_FUNC, 0x401200, 0x10),         // helper
        symbol(20, STT_OBJECT, 0x402000, 8),          // counter: data, ignored
        symbol(28, STT_FUNC, 0, 0x10),                // zero: undefined, ignored
        symbol(9999, STT_FUNC, 0x401300, 0x10),       // name outside .strtab, ignored
    };
    image.header.e_shoff = kSectionsOffset;
    image.section_headers = {
        Elf64_Shdr{},
        section(SHT_STRTAB, kStrtabOffset, kStrings.size(), 0, 0),
        section(SHT_SYMTAB, kSymtabOffset, 0, 1, sizeof(Elf64_Sym)),
    };
  }

  std::vector<std::byte> bytes() {
    image.section_headers[2].sh_size = symbols.size() * sizeof(Elf64_Sym);
    image.file_size = kSymtabOffset + symbols.size() * sizeof(Elf64_Sym);
    image.blobs.clear();
    image.add_blob(kSymtabOffset, testing::to_bytes(symbols));
    image.add_blob(kStrtabOffset, testing::to_bytes(kStrings));
    return image.bytes();
  }
};

TEST(SymbolTable, ReadsFunctionSymbols) {
  SymbolImage elf;
  const SymbolTable table = SymbolTable::from_elf(elf.bytes(), 0);
  EXPECT_EQ(table.size(), 3u);  // _start, main, helper
  EXPECT_EQ(table.describe(0x401100), "main+0x0");
  EXPECT_EQ(table.describe(0x40111c), "main+0x1c");
  EXPECT_EQ(table.describe(0x40113f), "main+0x3f");
  EXPECT_EQ(table.describe(0x401204), "helper+0x4");
  EXPECT_EQ(table.describe(0x401000), "_start+0x0");
  EXPECT_EQ(table.describe(0x401010), "_start+0x10");
}

TEST(SymbolTable, DefinedSymbolsOfAnyTypeAndUnknownWithoutATable) {
  SymbolImage elf;
  const auto bytes = elf.bytes();
  EXPECT_EQ(elf_defines_symbol(bytes, "main"), true);
  EXPECT_EQ(elf_defines_symbol(bytes, "counter"), true);  // data counts too
  EXPECT_EQ(elf_defines_symbol(bytes, "missing"), false);
  EXPECT_EQ(elf_defines_symbol(bytes, "mai"), false);  // whole names only
  elf.symbols[2].st_shndx = SHN_UNDEF;                  // main only referenced
  EXPECT_EQ(elf_defines_symbol(elf.bytes(), "main"), false);
  EXPECT_EQ(elf_defines_symbol(ElfImage::static_executable().bytes(), "main"), std::nullopt);  // stripped
}

TEST(SymbolTable, NothingBelowTheFirstFunction) {
  SymbolImage elf;
  const SymbolTable table = SymbolTable::from_elf(elf.bytes(), 0);
  EXPECT_EQ(table.describe(0x400fff), std::nullopt);
  EXPECT_EQ(table.describe(0), std::nullopt);
}

TEST(SymbolTable, NearestBelowWhenCloseAfterASizedFunction) {
  SymbolImage elf;
  const SymbolTable table = SymbolTable::from_elf(elf.bytes(), 0);
  // Past helper's 0x10 bytes, but within 64 KiB: still named after helper.
  EXPECT_EQ(table.describe(0x401280), "helper+0x80");
  EXPECT_EQ(table.describe(0x401200 + 0x10000), "helper+0x10000");
  // Far past its end: no name.
  EXPECT_EQ(table.describe(0x401200 + 0x10001), std::nullopt);
  EXPECT_EQ(table.describe(0x7fff'0000), std::nullopt);
}

// A symbol without a size (st_size 0, common for assembly like _start) must not
// name every address above it, however far.
TEST(SymbolTable, UnsizedSymbolDoesNotNameFarAddresses) {
  SymbolImage elf;
  elf.symbols.resize(2);  // only _start (size 0)
  const SymbolTable table = SymbolTable::from_elf(elf.bytes(), 0);
  ASSERT_EQ(table.size(), 1u);
  EXPECT_EQ(table.describe(0x401000 + 0x100), "_start+0x100");
  EXPECT_EQ(table.describe(0x7fff'0000), std::nullopt);  // heap/stack address: not _start
}

TEST(SymbolTable, AppliesLoadBias) {
  SymbolImage elf;
  for (auto& s : elf.symbols) {
    if (s.st_value != 0) s.st_value -= 0x400000;  // as in a static-pie
  }
  const SymbolTable table = SymbolTable::from_elf(elf.bytes(), 0x400000);
  EXPECT_EQ(table.describe(0x401108), "main+0x8");
  EXPECT_EQ(table.describe(0x1108), std::nullopt);
}

TEST(SymbolTable, SortsUnorderedSymbols) {
  SymbolImage elf;
  std::swap(elf.symbols[1], elf.symbols[3]);
  const SymbolTable table = SymbolTable::from_elf(elf.bytes(), 0);
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.describe(0x401008), "_start+0x8");
  EXPECT_EQ(table.describe(0x401108), "main+0x8");
  EXPECT_EQ(table.describe(0x401208), "helper+0x8");
}

TEST(SymbolTable, StrippedFileGivesEmptyTable) {
  ElfImage image = ElfImage::static_executable();
  const SymbolTable table = SymbolTable::from_elf(image.bytes(), 0);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.describe(0x401000), std::nullopt);
}

TEST(SymbolTable, GarbageGivesEmptyTable) {
  std::mt19937 generator(7);
  for (std::size_t size : {0u, 1u, 63u, 64u, 65u, 4096u}) {
    std::vector<std::byte> bytes(size);
    for (auto& b : bytes) b = static_cast<std::byte>(generator() & 0xff);
    const SymbolTable table = SymbolTable::from_elf(bytes, 0);
    EXPECT_EQ(table.size(), 0u) << size;
  }
}

TEST(SymbolTable, UnterminatedStringTableEntryIsSkipped) {
  SymbolImage elf;
  // Cut .strtab in the middle of "helper": its name is unterminated, the rest are fine.
  elf.image.section_headers[1].sh_size = 16;
  const SymbolTable table = SymbolTable::from_elf(elf.bytes(), 0);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.describe(0x401108), "main+0x8");
}

TEST(SymbolTable, HostileSectionHeadersAreIgnored) {
  {
    SymbolImage elf;
    elf.image.section_headers[2].sh_link = 99;  // no such section
    EXPECT_EQ(SymbolTable::from_elf(elf.bytes(), 0).size(), 0u);
  }
  {
    SymbolImage elf;
    elf.image.section_headers[1].sh_offset = ~0ull - 4;  // .strtab beyond the file
    EXPECT_EQ(SymbolTable::from_elf(elf.bytes(), 0).size(), 0u);
  }
  {
    SymbolImage elf;
    elf.image.section_headers[1].sh_size = ~0ull;  // .strtab larger than the file
    EXPECT_EQ(SymbolTable::from_elf(elf.bytes(), 0).size(), 0u);
  }
  {
    SymbolImage elf;
    elf.image.section_headers[2].sh_entsize = 16;  // not Elf64_Sym
    EXPECT_EQ(SymbolTable::from_elf(elf.bytes(), 0).size(), 0u);
  }
  {
    SymbolImage elf;
    elf.image.header.e_shoff = ~0ull - 10;  // section headers beyond the file
    EXPECT_EQ(SymbolTable::from_elf(elf.bytes(), 0).size(), 0u);
  }
  {
    SymbolImage elf;
    elf.image.header.e_shentsize = 40;
    EXPECT_EQ(SymbolTable::from_elf(elf.bytes(), 0).size(), 0u);
  }
  {
    // .symtab claims far more entries than the file holds: reads what is there.
    SymbolImage elf;
    auto bytes = elf.bytes();
    Elf64_Shdr symtab;
    std::memcpy(&symtab, bytes.data() + kSectionsOffset + 2 * sizeof(Elf64_Shdr), sizeof(symtab));
    symtab.sh_size = ~0ull;
    std::memcpy(bytes.data() + kSectionsOffset + 2 * sizeof(Elf64_Shdr), &symtab, sizeof(symtab));
    EXPECT_EQ(SymbolTable::from_elf(bytes, 0).size(), 3u);
  }
}

}  // namespace
}  // namespace hyperlet
