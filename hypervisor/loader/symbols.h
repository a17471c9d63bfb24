// Function names from an ELF's symbol table, to say where a fault happened.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hyperlet {

class SymbolTable {
 public:
  SymbolTable() = default;
  // Never fails: a stripped or malformed file gives an empty table.
  static SymbolTable from_elf(std::span<const std::byte> file, std::uint64_t load_bias);

  // "main+0x1c" for the function containing (or nearest below) address.
  std::optional<std::string> describe(std::uint64_t address) const;
  std::size_t size() const { return functions_.size(); }

 private:
  struct Function {
    std::uint64_t address;
    std::uint64_t size;
    std::string name;
  };
  std::vector<Function> functions_;  // sorted by address
};

// Does the file's symbol table define `name`? nullopt when it has no symbol
// table (stripped), so the answer is unknown.
std::optional<bool> elf_defines_symbol(std::span<const std::byte> file, std::string_view name);

}  // namespace hyperlet
