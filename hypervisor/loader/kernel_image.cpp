#include "loader/kernel_image.h"

#include "core/checked_range.h"
#include "loader/elf_file.h"

extern "C" const std::byte hyperlet_guest_kernel_start[];
extern "C" const std::byte hyperlet_guest_kernel_end[];

namespace hyperlet {

std::span<const std::byte> embedded_guest_kernel() { return {hyperlet_guest_kernel_start, hyperlet_guest_kernel_end}; }

Result<abi::KernelHeader> load_guest_kernel(GuestMemory& memory, std::span<const std::byte> image) {
  auto elf = parse_elf(image, "the guest kernel");
  if (!elf) return std::unexpected(elf.error());
  for (const LoadSegment& segment : elf->segments) {
    if (!range_between(segment.virtual_address, segment.memory_size, abi::kKernelImageBase, abi::kKernelImageLimit)) {
      return fail(ExitStatus::kUsage, "the guest kernel has a segment outside its 1-2 MiB window");
    }
    if (!memory.write_bytes(segment.virtual_address, image.subspan(segment.file_offset, segment.file_size))) {
      return fail(ExitStatus::kUsage, "the guest kernel does not fit in guest memory");
    }
  }
  auto header = memory.read<abi::KernelHeader>(abi::kKernelImageBase);
  if (!header || header->magic != abi::kKernelMagic || header->abi_version != abi::kAbiVersion) {
    return fail(ExitStatus::kUsage, "the embedded guest kernel has no valid header (a broken build?)");
  }
  return *header;
}

}  // namespace hyperlet
