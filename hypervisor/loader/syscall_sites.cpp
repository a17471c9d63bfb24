#include "loader/syscall_sites.h"

#include <Zydis/Zydis.h>
#include <hyperlet/abi.h>

#include <cstring>

#include "core/checked_range.h"

namespace hyperlet {

std::vector<std::uint64_t> find_syscall_sites(std::span<const std::byte> code) {
  ZydisDecoder decoder;
  ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  // Lengths and mnemonics are all we need; skipping operand detail is much faster.
  ZydisDecoderEnableMode(&decoder, ZYDIS_DECODER_MODE_MINIMAL, ZYAN_TRUE);

  std::vector<std::uint64_t> sites;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(code.data());
  std::uint64_t offset = 0;
  ZydisDecodedInstruction instruction;
  while (offset < code.size()) {
    const ZyanStatus status =
        ZydisDecoderDecodeInstruction(&decoder, nullptr, bytes + offset, code.size() - offset, &instruction);
    if (!ZYAN_SUCCESS(status)) {
      ++offset;  // data or padding inside code: resynchronise one byte later
      continue;
    }
    if (instruction.mnemonic == ZYDIS_MNEMONIC_SYSCALL && instruction.length == 2) {
      sites.push_back(offset);
    }
    offset += instruction.length;
  }
  return sites;
}

void rewrite_syscall_sites(std::span<std::byte> code, const std::vector<std::uint64_t>& sites) {
  for (std::uint64_t site : sites) {
    if (!range_fits(site, 2, code.size())) continue;
    std::memcpy(code.data() + site, abi::kSyscallTrapOpcode, 2);
  }
}

}  // namespace hyperlet
