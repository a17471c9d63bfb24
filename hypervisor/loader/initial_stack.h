// The Linux initial process stack: argc, argv, envp, auxv and the strings they
// point to, laid out exactly as the kernel's execve would (System V x86-64 ABI).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace hyperlet {

struct InitialStackInput {
  std::uint64_t stack_top;  // highest address + 1; the block is built below it
  std::vector<std::string> arguments;    // argv, argv[0] first
  std::vector<std::string> environment;  // "KEY=VALUE"
  std::string exec_filename;             // AT_EXECFN
  std::uint64_t program_headers;         // AT_PHDR
  std::uint64_t program_header_count;    // AT_PHNUM
  std::uint64_t program_header_size;     // AT_PHENT
  std::uint64_t entry;                   // AT_ENTRY
  std::uint64_t vdso;                    // AT_SYSINFO_EHDR (0: none)
  std::uint64_t guest_info = 0;          // abi::kAuxvGuestInfo (0: none)
  std::uint64_t hwcap;                   // AT_HWCAP (CPUID.1:EDX)
  std::array<std::uint8_t, 16> random;   // AT_RANDOM bytes
};

struct InitialStack {
  std::uint64_t stack_pointer;  // where argc is; 16-byte aligned
  std::vector<std::byte> bytes; // to be written at [stack_pointer, stack_top)
};

InitialStack build_initial_stack(const InitialStackInput& input);

// Whether the block leaves the app at least a page of its stack (which ends at
// stack_bottom) to run on.
bool leaves_room_to_run(const InitialStack& stack, std::uint64_t stack_bottom);

}  // namespace hyperlet
