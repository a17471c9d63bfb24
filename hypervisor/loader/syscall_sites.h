// Finding the app's `syscall` instructions, so they can be rewritten into the
// trap the guest kernel dispatches (abi.h: kSyscallTrapOpcode). Only bytes that
// are provably code are rewritten: decoding (Zydis) starts only where the image
// says a function starts (code_map.h) and follows control flow from there, so
// the bytes 0f 05 inside another instruction, or inside a data table placed in
// .text, are never taken for a syscall. A real syscall the analysis cannot reach
// stays as it is and, if it ever runs under the trap entry, ends the run with a
// fault report naming it (fault_report.cpp) — never a wrong rewrite.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "loader/code_map.h"

namespace hyperlet {

// One executable segment: its link-time address and its bytes.
struct CodeSegment {
  std::uint64_t address;
  std::span<const std::byte> bytes;
};

using SiteTable = std::vector<std::vector<std::uint64_t>>;  // per code segment, ascending offsets within it

// The `syscall` instructions reachable from the map's functions and entry points
// by the control flow of the instructions themselves: fall-through, direct
// jumps, branches and calls, and the jump tables of `switch` statements (a
// table in `data` whose every entry read lands inside the function that jumps
// through it). Never inside a data object, and never falling off the end of a
// function after a call (the callee may not return: what follows may be data).
// `data`: the image's other loaded segments, where jump tables live.
// Decoding needs Zydis: call instruction_decoder() (loader/instruction_decoder.h)
// first and fail with its error; these functions assume it loaded.
SiteTable find_syscall_sites(const std::vector<CodeSegment>& code, const CodeMap& map,
                             const std::vector<CodeSegment>& data = {});

// Every `syscall` a linear sweep of `code` decodes, data included: what the
// loader rewrote before it knew better. For comparisons and tests only.
std::vector<std::uint64_t> sweep_syscall_sites(std::span<const std::byte> code);

// What a site's 2 bytes become: a direct syscall (abi::kDirectSyscallOpcode)
// where `mov $N, %eax` (b8 + imm32) comes right before it with N one that
// abi::is_direct_syscall names, `xor %eax, %eax` (read), or `mov %esi, %eax` a
// few bytes after `mov $231, %esi` (glibc's _exit), else the trap. A guess from the bytes alone, never a
// risk: a jump to the site with another number in eax, or b8 bytes that end
// another instruction, cost one trip back to the guest kernel (abi.h), and a
// closed port makes the site the trap.
std::span<const std::uint8_t, 2> rewritten_syscall(std::span<const std::byte> code, std::uint64_t site);

// Replaces each site's 2 bytes with rewritten_syscall's. Sites must come from find_syscall_sites.
void rewrite_syscall_sites(std::span<std::byte> code, const std::vector<std::uint64_t>& sites);

}  // namespace hyperlet
