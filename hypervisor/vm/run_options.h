#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "memory/guest_layout.h"

namespace hyperlet {

enum class SyscallEntry { kAuto, kSyscall, kTrap };

struct RunOptions {
  std::string app_path;
  std::vector<std::string> arguments;    // argv[1..]
  std::vector<std::string> environment;  // KEY=VALUE, exactly what the app sees
  std::uint64_t memory_size = kDefaultGuestMemory;
  std::optional<std::chrono::nanoseconds> timeout;
  SyscallEntry syscall_entry = SyscallEntry::kAuto;
  bool trace = false;
  bool stats = false;
};

// On kvm_pvm a ring-3 `syscall` never reaches ring 0 (see docs/DESIGN.md), so
// `auto` picks the trap there and the native instruction everywhere else.
SyscallEntry resolve_syscall_entry(SyscallEntry requested);

}  // namespace hyperlet
