#include "loader/vdso_image.h"

#include <cstring>

#include <hyperlet/abi.h>

#include "loader/elf_file.h"

extern "C" const std::byte hyperlet_vdso_start[];
extern "C" const std::byte hyperlet_vdso_end[];

namespace hyperlet {

std::span<const std::byte> embedded_vdso() { return {hyperlet_vdso_start, hyperlet_vdso_end}; }

Result<std::uint64_t> load_vdso(GuestMemory& memory, std::span<const std::byte> image) {
  auto elf = parse_elf(image, "the vDSO", ElfKind::kSharedObject);
  if (!elf) return std::unexpected(elf.error());
  // Linked at 0 and free of relocations: copying the file's pages is loading it.
  if (elf->lowest_address != 0 || elf->highest_address > abi::kVdsoMaxSize ||
      image.size() > abi::kVdsoMaxSize) {
    return fail(ExitStatus::kUsage, "the embedded vDSO does not fit its {} KiB window (a broken build?)",
                abi::kVdsoMaxSize >> 10);
  }
  for (const LoadSegment& segment : elf->segments) {
    if (!memory.write_bytes(abi::kVdsoAddr + segment.virtual_address,
                            image.subspan(segment.file_offset, segment.file_size))) {
      return fail(ExitStatus::kUsage, "the vDSO does not fit in guest memory");
    }
  }
  return abi::kVdsoAddr;
}

}  // namespace hyperlet
