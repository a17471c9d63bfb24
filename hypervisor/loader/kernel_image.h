// The embedded guest kernel: loading it into guest memory and reading its header.
#pragma once

#include <span>

#include <hyperlet/abi.h>

#include "core/error.h"
#include "memory/guest_memory.h"

namespace hyperlet {

std::span<const std::byte> embedded_guest_kernel();

// Copies the kernel's segments to their (fixed, low) addresses and returns its header.
Result<abi::KernelHeader> load_guest_kernel(GuestMemory& memory, std::span<const std::byte> image);

}  // namespace hyperlet
