// A CPU exception the kernel cannot resolve ends the VM: the host gets the full
// picture (vector, rip, faulting address, registers) and writes the report.
#include <hyperlet/abi.h>
#include <stddef.h>

#include "boot_info.h"
#include "hypercall.h"
#include "signal_state.h"
#include "trap_frame.h"
#include "user_memory.h"

// entry.S, #UD from ring 3 at the last byte of a page: is it a rewritten
// `int 0x81` whose second byte is on the next page? That page may be absent
// (PROT_NONE, the stack guard, beyond the app's memory), so it is checked
// before it is read.
extern "C" bool syscall_trap_at(uint64_t rip) {
  using namespace hyperlet;
  const kernel::KernelLockGuard lock;  // another vCPU may be changing the page tables
  if (!kernel::user_range_ok(rip, sizeof(abi::kSyscallTrapOpcode))) return false;
  const auto* bytes = reinterpret_cast<const volatile uint8_t*>(rip);
  return bytes[0] == abi::kSyscallTrapOpcode[0] && bytes[1] == abi::kSyscallTrapOpcode[1];
}

static_assert(hyperlet::abi::kSignalStateAddr + offsetof(hyperlet::abi::SignalState, attention) == 0x6f10,
              "entry.S: SIGNAL_ATTENTION");

// A `syscall` the site analysis left unrewritten (code it could not prove, e.g. a
// stripped musl program's thread start, reached only through a pointer): kvm_pvm
// sends it to the LSTAR address still in ring 3, which faults there with its
// return address in rcx and the app's rflags in r11. It ran, so it is code: the
// host rewrites it to the trap (checking that it is a `syscall` in app memory)
// and the app resumes at it, now `int 0x81`, with its flags as they were. One
// extra fault per missed site, once; anything else ends as before, with the
// report that names the site.
static bool resume_at_rewritten_syscall(hyperlet::kernel::TrapFrame* frame, uint64_t cr2) {
  using namespace hyperlet;
  if ((frame->cs & 3) != 3 || frame->vector != static_cast<uint64_t>(abi::Exception::kPageFault) ||
      (kernel::boot_info().flags & abi::kBootFlagSyscallTrap) == 0 || frame->rip != cr2 ||
      frame->rip < abi::kKernelImageBase || frame->rip >= abi::kKernelImageLimit) {
    return false;
  }
  const uint64_t site = frame->rcx - 2;
  abi::SyscallSiteArgs& args = kernel::hypercall_args().syscall_site;
  args = abi::SyscallSiteArgs{site, 0};
  kernel::hypercall(abi::Hypercall::kSyscallSite);
  if (kernel::hypercall_args().syscall_site.result != 0) return false;
  frame->rip = site;
  frame->rflags = (frame->r11 & 0x3c7fd7) | 0x202;  // what sysret would give back, interrupts on
  return true;
}

// (A #UD on a rewritten `int 0x81` never gets here: entry.S catches it first.)
// An app fault with an unblocked handler for its signal returns, the frame
// rewritten to run it (signal_delivery.cpp); anything else ends the VM.
extern "C" void handle_exception(hyperlet::kernel::TrapFrame* frame) {
  using namespace hyperlet;
  uint64_t cr2 = 0;
  asm volatile("mov %%cr2, %0" : "=r"(cr2));
  const kernel::KernelLockGuard lock;
  if (resume_at_rewritten_syscall(frame, cr2)) return;
  if (kernel::deliver_fault_signal(frame, cr2)) return;
  abi::FaultArgs& fault = kernel::hypercall_args().fault;
  fault = abi::FaultArgs{
      .vector = frame->vector,
      .error_code = frame->error_code,
      .rip = frame->rip,
      .cs = frame->cs,
      .rflags = frame->rflags,
      .rsp = frame->rsp,
      .cr2 = cr2,
      .rax = frame->rax,
      .rbx = frame->rbx,
      .rcx = frame->rcx,
      .rdx = frame->rdx,
      .rsi = frame->rsi,
      .rdi = frame->rdi,
      .rbp = frame->rbp,
  };
  kernel::hypercall(abi::Hypercall::kFault);
  for (;;) asm volatile("hlt");
}
