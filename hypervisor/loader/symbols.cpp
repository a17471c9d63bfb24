#include "loader/symbols.h"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "core/checked_range.h"
#include "loader/file_bytes.h"

namespace hyperlet {

namespace {

// Calls visit(symbol, name) for every named symbol in the file's symbol tables;
// false when the file has none (stripped, or malformed headers).
template <typename Visit>
bool for_each_symbol(std::span<const std::byte> file, Visit visit) {
  Elf64_Ehdr header;
  if (!read_at(file, 0, header) || header.e_shentsize != sizeof(Elf64_Shdr)) return false;
  bool found_table = false;
  for (std::uint16_t i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section;
    if (!read_at(file, header.e_shoff + std::uint64_t{i} * sizeof(Elf64_Shdr), section)) break;
    if (section.sh_type != SHT_SYMTAB || section.sh_entsize != sizeof(Elf64_Sym)) continue;
    Elf64_Shdr strings;
    if (section.sh_link >= header.e_shnum ||
        !read_at(file, header.e_shoff + std::uint64_t{section.sh_link} * sizeof(Elf64_Shdr), strings) ||
        !range_fits(strings.sh_offset, strings.sh_size, file.size())) {
      continue;
    }
    found_table = true;
    const char* names = reinterpret_cast<const char*>(file.data() + strings.sh_offset);
    for (std::uint64_t s = 0; s < section.sh_size / sizeof(Elf64_Sym); ++s) {
      Elf64_Sym symbol;
      if (!read_at(file, section.sh_offset + s * sizeof(Elf64_Sym), symbol)) break;
      if (symbol.st_name >= strings.sh_size) continue;
      const std::size_t max_length = strings.sh_size - symbol.st_name;
      const std::size_t length = strnlen(names + symbol.st_name, max_length);
      if (length == max_length) continue;  // unterminated name
      visit(symbol, std::string_view(names + symbol.st_name, length));
    }
  }
  return found_table;
}

}  // namespace

SymbolTable SymbolTable::from_elf(std::span<const std::byte> file, std::uint64_t load_bias) {
  SymbolTable table;
  for_each_symbol(file, [&](const Elf64_Sym& symbol, std::string_view name) {
    if (ELF64_ST_TYPE(symbol.st_info) != STT_FUNC || symbol.st_value == 0) return;
    table.functions_.push_back(Function{symbol.st_value + load_bias, symbol.st_size, std::string(name)});
  });
  std::sort(table.functions_.begin(), table.functions_.end(),
            [](const Function& a, const Function& b) { return a.address < b.address; });
  return table;
}

std::optional<bool> elf_defines_symbol(std::span<const std::byte> file, std::string_view name) {
  bool defined = false;
  const bool has_table = for_each_symbol(file, [&](const Elf64_Sym& symbol, std::string_view symbol_name) {
    defined = defined || (symbol.st_shndx != SHN_UNDEF && symbol_name == name);
  });
  if (!has_table) return std::nullopt;
  return defined;
}

std::optional<std::string> SymbolTable::describe(std::uint64_t address) const {
  auto it = std::upper_bound(functions_.begin(), functions_.end(), address,
                             [](std::uint64_t value, const Function& f) { return value < f.address; });
  if (it == functions_.begin()) return std::nullopt;
  --it;
  // Prefer a symbol whose extent contains the address; else the nearest below, if close.
  const bool inside = it->size != 0 && address - it->address < it->size;
  if (!inside && address - it->address > (1u << 16)) {
    return std::nullopt;
  }
  return fmt::format("{}+{:#x}", it->name, address - it->address);
}

}  // namespace hyperlet
