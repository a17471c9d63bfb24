// One --trace line per syscall, as strace prints it: the arguments each syscall
// takes, decoded by kind (devices/syscall_decoding.h), with strings, buffers and
// socket addresses read from app memory after the call.
#pragma once

#include <hyperlet/abi.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

namespace hyperlet {

// Exactly `length` bytes of app memory at `address`, or nullopt when any of them is
// outside it (the guest kernel's pages, unmapped addresses): then the trace shows
// the pointer, as strace does for an address it cannot read.
using GuestBytes = std::function<std::optional<std::span<const std::byte>>(std::uint64_t, std::uint64_t)>;

// "openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC) = 3". Without `memory`,
// every buffer and string is shown as its pointer.
std::string format_syscall(const abi::SyscallArgs& call, const GuestBytes& memory = {});

// The last byte a successful write, pwrite64 or writev wrote, with the guest fd it
// went to; nullopt for every other call.
struct WrittenByte {
  std::int32_t fd;
  char last;
};
std::optional<WrittenByte> last_byte_written(const abi::SyscallArgs& call, const GuestBytes& memory);

}  // namespace hyperlet
