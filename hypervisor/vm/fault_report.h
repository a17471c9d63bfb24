// Turning a guest CPU exception into the one line a user reads and the exit status.
#pragma once

#include <hyperlet/abi.h>

#include "core/error.h"
#include "loader/symbols.h"
#include "memory/file_mappings.h"
#include "memory/guest_layout.h"

namespace hyperlet {

std::string_view exception_name(std::uint64_t vector);

// `symbols` names the app's function at rip, when the app has a symbol table.
// `syscall_trap`: the app's syscalls were rewritten to the trap (--syscall-entry
// trap), so a `syscall` that still runs is one the loader left alone.
Error describe_fault(const abi::FaultArgs& fault, const GuestLayout& layout, const SymbolTable& symbols,
                     bool syscall_trap);

// For the line of an app that crashed or was killed by a signal (abort() after
// std::bad_alloc): when the guest kernel had refused it memory for lack of room
// (abi::GuestStatus), says so and which --memory to try; otherwise "".
std::string out_of_memory_note(const abi::GuestStatus& status, std::uint64_t memory_size);

// The app, or hyperlet reading what the app passed, touched a page of a
// MAP_SHARED file mapping past the file's end: the app is killed by SIGBUS, as
// a process would be. `address`: the guest address, when KVM or the host's
// SIGBUS handler (memory/bus_errors.h) said it.
Error mapped_file_bus_error(const FileMappings& mappings, std::optional<std::uint64_t> address);

}  // namespace hyperlet
