// Finding the app's `syscall` instructions, so they can be rewritten into the
// trap the guest kernel dispatches (abi.h: kSyscallTrapOpcode). Uses a real x86
// decoder (Zydis) in a linear sweep of each executable segment, so the bytes
// 0f 05 inside some other instruction are never mistaken for a syscall.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace hyperlet {

// Offsets (from the start of `code`) of every `syscall` instruction.
std::vector<std::uint64_t> find_syscall_sites(std::span<const std::byte> code);

// Replaces each site's 2 bytes with the trap. Sites must come from find_syscall_sites.
void rewrite_syscall_sites(std::span<std::byte> code, const std::vector<std::uint64_t>& sites);

}  // namespace hyperlet
