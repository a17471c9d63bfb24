#include "vm/fault_report.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>

namespace hyperlet {
namespace {

using abi::Exception;

constexpr std::uint64_t kPageFaultPresent = 1 << 0;
constexpr std::uint64_t kPageFaultWrite = 1 << 1;
constexpr std::uint64_t kPageFaultInstruction = 1 << 4;

ExitStatus app_status(std::uint64_t vector) {
  if (vector >= abi::kExceptionVectors) return ExitStatus::kAppSigsegv;
  switch (static_cast<Exception>(vector)) {
    case Exception::kDivideError:
    case Exception::kX87Floating:
    case Exception::kSimdFloating:
      return ExitStatus::kAppSigfpe;
    case Exception::kInvalidOpcode:
      return ExitStatus::kAppSigill;
    case Exception::kBreakpoint:
    case Exception::kDebug:
      return ExitStatus::kAppSigtrap;
    case Exception::kAlignmentCheck:
      return ExitStatus::kAppSigbus;
    default:
      return ExitStatus::kAppSigsegv;
  }
}

}  // namespace

std::string_view exception_name(std::uint64_t vector) {
  // abi::Exception is uint8_t-based: cast only a real exception vector, or 0x10e reads as #PF.
  if (vector >= abi::kExceptionVectors) return "CPU exception";
  switch (static_cast<Exception>(vector)) {
    case Exception::kDivideError:
      return "divide error (#DE)";
    case Exception::kDebug:
      return "debug exception (#DB)";
    case Exception::kNmi:
      return "non-maskable interrupt";
    case Exception::kBreakpoint:
      return "breakpoint (#BP)";
    case Exception::kOverflow:
      return "overflow (#OF)";
    case Exception::kBoundRange:
      return "bound range exceeded (#BR)";
    case Exception::kInvalidOpcode:
      return "invalid opcode (#UD)";
    case Exception::kDeviceNotAvailable:
      return "device not available (#NM)";
    case Exception::kDoubleFault:
      return "double fault (#DF)";
    case Exception::kInvalidTss:
      return "invalid TSS (#TS)";
    case Exception::kSegmentNotPresent:
      return "segment not present (#NP)";
    case Exception::kStackFault:
      return "stack-segment fault (#SS)";
    case Exception::kGeneralProtection:
      return "general protection fault (#GP)";
    case Exception::kPageFault:
      return "page fault (#PF)";
    case Exception::kX87Floating:
      return "x87 floating-point error (#MF)";
    case Exception::kAlignmentCheck:
      return "alignment check (#AC)";
    case Exception::kMachineCheck:
      return "machine check (#MC)";
    case Exception::kSimdFloating:
      return "SIMD floating-point error (#XM)";
  }
  return "CPU exception";
}

Error describe_fault(const abi::FaultArgs& fault, const GuestLayout& layout, const SymbolTable& symbols,
                     bool syscall_trap) {
  const bool in_app = (fault.cs & 3) == 3;
  std::string where = fmt::format("rip {:#x}", fault.rip);
  if (in_app) {
    if (auto function = symbols.describe(fault.rip)) where += fmt::format(" ({})", *function);
  }
  std::string detail;
  if (fault.vector == static_cast<std::uint64_t>(Exception::kPageFault)) {
    const char* access = (fault.error_code & kPageFaultInstruction) != 0 ? "executing"
                         : (fault.error_code & kPageFaultWrite) != 0     ? "writing"
                                                                         : "reading";
    detail = fmt::format(" {} address {:#x}", access, fault.cr2);
    if (fault.cr2 < abi::kPageSize) {
      detail += " (null pointer dereference)";
    } else if (fault.cr2 >= layout.mmap_top && fault.cr2 < layout.stack_bottom) {
      detail += fmt::format(" (stack overflow: the stack is {} KiB)", (layout.stack_top - layout.stack_bottom) >> 10);
    } else if (in_app && fault.cr2 == fault.rip && fault.rip >= abi::kKernelImageBase &&
               fault.rip < abi::kKernelImageLimit) {
      // A ring-3 `syscall` that jumped to LSTAR without entering ring 0: kvm_pvm
      // does this. It left its return address in rcx, so the site is rcx - 2.
      const std::uint64_t site = fault.rcx - 2;
      std::string named = fmt::format("{:#x}", site);
      if (auto function = symbols.describe(site)) named += fmt::format(" ({})", *function);
      if (syscall_trap) {
        detail += fmt::format(
            " (the app's `syscall` at {} was not rewritten to the trap and reached the guest kernel's entry "
            "without entering ring 0: hyperlet rewrites only syscalls it can prove are code, from the functions "
            "the image's .eh_frame, symbol table and Go function table describe; this one was outside them or made at "
            "run time)",
            named);
      } else {
        detail += fmt::format(
            " (the app's `syscall` at {} reached the guest kernel's entry without entering ring 0: "
            "this host cannot run --syscall-entry syscall; use --syscall-entry trap)",
            named);
      }
    } else if (in_app && fault.cr2 < abi::kUserSpaceStart && (fault.error_code & kPageFaultPresent) != 0) {
      detail += " (guest kernel memory)";
    } else if ((fault.error_code & kPageFaultPresent) == 0) {
      detail += " (not mapped)";
    }
  }
  if (!in_app) {
    return Error{ExitStatus::kGuestKernelFault,
                 fmt::format("guest kernel fault: {} at {}{} (error code {:#x}; a hyperlet bug)",
                             exception_name(fault.vector), where, detail, fault.error_code)};
  }
  return Error{app_status(fault.vector),
               fmt::format("app crashed: {} at {}{}", exception_name(fault.vector), where, detail)};
}

std::string out_of_memory_note(const abi::GuestStatus& status, std::uint64_t memory_size) {
  if (status.failed_allocations == 0) return "";
  constexpr std::uint64_t kMiB = 1 << 20;
  // Room for the largest refused request on top of what the app had: at least double.
  const std::uint64_t wanted = std::max(memory_size * 2, memory_size + status.largest_failed);
  std::uint64_t suggestion = 2 * kMiB;
  while (suggestion < wanted) suggestion *= 2;
  return fmt::format(
      " (before that it ran out of guest memory: {} allocation{} refused, the largest {} MiB, with --memory {}M; "
      "try --memory {}M)",
      status.failed_allocations, status.failed_allocations == 1 ? " was" : "s were",
      (status.largest_failed + kMiB - 1) / kMiB, memory_size / kMiB, suggestion / kMiB);
}

Error mapped_file_bus_error(const FileMappings& mappings, std::optional<std::uint64_t> address) {
  const FileMappings::Entry* entry = address ? mappings.find(*address) : nullptr;
  if (entry == nullptr && !address) {
    // KVM did not say where (kvm_pvm does not): name the mapping if only one
    // reaches past its file's end now.
    std::vector<const FileMappings::Entry*> past_end;
    for (const FileMappings::Entry& candidate : mappings.entries()) {
      struct stat info {};
      if (::fstat(candidate.file->get(), &info) == 0 &&
          candidate.offset + candidate.length > static_cast<std::uint64_t>(info.st_size)) {
        past_end.push_back(&candidate);
      }
    }
    if (past_end.size() == 1) {
      struct stat info {};
      ::fstat(past_end[0]->file->get(), &info);
      return Error{ExitStatus::kAppSigbus,
                   fmt::format("app killed by SIGBUS (Bus error): it touched a page of its shared mapping of {} "
                               "past the file's end (now {} bytes)",
                               past_end[0]->name.empty() ? "a file" : past_end[0]->name, info.st_size)};
    }
  }
  if (entry == nullptr) {
    return Error{ExitStatus::kAppSigbus,
                 "app killed by SIGBUS (Bus error): it touched a page of a shared file mapping past the file's end"};
  }
  struct stat info {};
  const std::string size =
      ::fstat(entry->file->get(), &info) == 0 ? fmt::format(" (now {} bytes)", info.st_size) : std::string();
  const std::uint64_t file_offset = entry->offset + (*address - entry->address);
  return Error{ExitStatus::kAppSigbus,
               fmt::format("app killed by SIGBUS (Bus error): it touched {:#x}, offset {} of its shared mapping of "
                           "{}, past the file's end{}",
                           *address, file_offset, entry->name.empty() ? "a file" : entry->name, size)};
}

}  // namespace hyperlet
