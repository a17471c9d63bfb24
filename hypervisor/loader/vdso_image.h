// The embedded vDSO: copied into ring-3-readable guest memory at abi::kVdsoAddr
// and announced to the app with AT_SYSINFO_EHDR.
#pragma once

#include <span>

#include "core/error.h"
#include "memory/guest_memory.h"

namespace hyperlet {

std::span<const std::byte> embedded_vdso();

// Returns the address for AT_SYSINFO_EHDR.
Result<std::uint64_t> load_vdso(GuestMemory& memory, std::span<const std::byte> image);

}  // namespace hyperlet
