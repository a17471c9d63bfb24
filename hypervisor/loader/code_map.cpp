#include "loader/code_map.h"

#include <elf.h>

#include <cstring>
#include <string_view>

#include "core/checked_range.h"
#include "loader/file_bytes.h"
#include "loader/go_pclntab.h"

namespace hyperlet {
namespace {

std::string_view section_name(std::span<const std::byte> file, const Elf64_Shdr& names, std::uint32_t offset) {
  if (names.sh_type != SHT_STRTAB || offset >= names.sh_size ||
      !range_fits(names.sh_offset, names.sh_size, file.size())) {
    return {};
  }
  const char* start = reinterpret_cast<const char*>(file.data() + names.sh_offset + offset);
  const std::size_t max_length = names.sh_size - offset;
  const std::size_t length = strnlen(start, max_length);
  return length == max_length ? std::string_view{} : std::string_view(start, length);
}

void add_symbols(std::span<const std::byte> file, const Elf64_Shdr& table, CodeMap& map) {
  if (table.sh_entsize != sizeof(Elf64_Sym) || !range_fits(table.sh_offset, table.sh_size, file.size())) return;
  for (std::uint64_t index = 0; index < table.sh_size / sizeof(Elf64_Sym); ++index) {
    Elf64_Sym symbol;
    if (!read_at(file, table.sh_offset + index * sizeof(Elf64_Sym), symbol)) break;
    if (symbol.st_shndx == SHN_UNDEF || symbol.st_shndx == SHN_ABS || symbol.st_value == 0) continue;
    if (!checked_add(symbol.st_value, symbol.st_size)) continue;
    switch (ELF64_ST_TYPE(symbol.st_info)) {
      case STT_FUNC:
      case STT_GNU_IFUNC:  // the resolver is code, like any function
        if (symbol.st_size != 0) {
          map.functions.push_back({symbol.st_value, symbol.st_size});
        } else {
          map.entry_points.push_back(symbol.st_value);
        }
        break;
      case STT_OBJECT:
      case STT_TLS:
        if (symbol.st_size != 0) map.data_objects.push_back({symbol.st_value, symbol.st_size});
        break;
      default:
        break;
    }
  }
}

}  // namespace

CodeMap code_map_from_elf(std::span<const std::byte> file) {
  CodeMap map;
  Elf64_Ehdr header;
  if (!read_at(file, 0, header)) return map;
  if (header.e_entry != 0) map.entry_points.push_back(header.e_entry);
  if (header.e_shentsize != sizeof(Elf64_Shdr)) return map;
  auto section_at = [&](std::uint64_t index, Elf64_Shdr& section) {
    return index < header.e_shnum && read_at(file, header.e_shoff + index * sizeof(Elf64_Shdr), section);
  };
  Elf64_Shdr names{};
  const bool have_names = section_at(header.e_shstrndx, names);
  std::span<const std::byte> go_tables;
  std::uint64_t text_address = 0;
  for (std::uint16_t index = 0; index < header.e_shnum; ++index) {
    Elf64_Shdr section;
    if (!section_at(index, section)) break;
    if (section.sh_type == SHT_SYMTAB) {
      add_symbols(file, section, map);
      continue;
    }
    if (!have_names || section.sh_type == SHT_NOBITS || !range_fits(section.sh_offset, section.sh_size, file.size())) {
      continue;
    }
    const std::string_view name = section_name(file, names, section.sh_name);
    const auto bytes = file.subspan(section.sh_offset, section.sh_size);
    if (name == ".eh_frame") {
      const auto ranges = eh_frame_function_ranges(bytes, section.sh_addr);
      map.functions.insert(map.functions.end(), ranges.begin(), ranges.end());
    } else if (name == ".gopclntab") {
      go_tables = bytes;
    } else if (name == ".text") {
      text_address = section.sh_addr;
    }
  }
  // After the loop: the Go table's offsets may need .text's address, wherever it comes.
  if (!go_tables.empty()) {
    const auto ranges = go_function_ranges(go_tables, text_address);
    map.functions.insert(map.functions.end(), ranges.begin(), ranges.end());
  }
  return map;
}

}  // namespace hyperlet
