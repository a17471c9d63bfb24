// A CPU exception the kernel cannot resolve ends the VM: the host gets the full
// picture (vector, rip, faulting address, registers) and writes the report.
#include "hypercall.h"
#include "trap_frame.h"

extern "C" void handle_syscall(hyperlet::kernel::TrapFrame* frame);

namespace {

// kvm_pvm does not deliver `int 0x81` from ring 3 through its gate: it raises
// #UD with rip at the instruction. A #UD on one of our rewritten sites is that
// syscall; step over it and dispatch it like the gate would have.
bool is_rewritten_syscall(const hyperlet::kernel::TrapFrame& frame) {
  using namespace hyperlet;
  if (frame.vector != static_cast<uint64_t>(abi::Exception::kInvalidOpcode) || (frame.cs & 3) != 3) {
    return false;
  }
  if (frame.rip < abi::kUserSpaceStart || frame.rip + 2 < frame.rip) return false;
  const auto* code = reinterpret_cast<const uint8_t*>(frame.rip);
  return code[0] == abi::kSyscallTrapOpcode[0] && code[1] == abi::kSyscallTrapOpcode[1];
}

}  // namespace

extern "C" void handle_exception(hyperlet::kernel::TrapFrame* frame) {
  using namespace hyperlet;
  if (is_rewritten_syscall(*frame)) {
    frame->rip += 2;
    handle_syscall(frame);
    return;
  }
  uint64_t cr2 = 0;
  asm volatile("mov %%cr2, %0" : "=r"(cr2));
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
