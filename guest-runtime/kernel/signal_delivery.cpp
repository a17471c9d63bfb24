// Delivering signals: on the way back to ring 3 (entry.S calls deliver_signals
// when abi::SignalState::attention is set, after a syscall or a time slice) and
// for the app's own faults (exceptions.cpp calls deliver_fault_signal).
//
// A handler gets exactly Linux x86-64's rt_sigframe on its stack (the red zone
// skipped, or at the top of the alternate stack with SA_ONSTACK): the return
// address sa_restorer (glibc's and musl's __restore_rt, which calls
// rt_sigreturn), the ucontext (uc_flags, uc_link, uc_stack, the sigcontext with
// every register, err, trapno, oldmask, cr2 and the fpstate pointer, the old
// mask), the siginfo, and below... above them the vector state: fxsave64's 512
// bytes where the guest has no XSAVE (kvm_pvm), else xsave64's area with
// Linux's FP_XSTATE magic words (UC_FP_XSTATE), 64-byte aligned. rt_sigreturn
// puts it all back (deliver_signals again, on its own return path): rflags
// only in the bits Linux lets the app change, rip and rsp only if they are
// user addresses (an iretq to a non-canonical address would fault in ring 0),
// the vector state after sanitising MXCSR and the XSAVE header.
//
// The kernel writes the frame only after checking the whole range is the
// app's, present memory (user_memory.h); if it is not (a stack overflow with no
// alternate stack), a fault ends the run with its usual report and anything
// else with SIGSEGV, as Linux force-kills: never a fault in ring 0.
#include <stddef.h>

#include "boot_info.h"
#include "errno.h"
#include "hypercall.h"
#include "signal_state.h"
#include "syscalls/syscalls.h"
#include "user_memory.h"
#include "vector_state.h"

extern "C" {
void* memcpy(void* dest, const void* src, size_t n);  // support.cpp
void* memset(void* dest, int value, size_t n);
}

namespace hyperlet::kernel {
namespace {

// ---- Linux's user ABI (arch/x86/include/uapi/asm/sigcontext.h, ucontext.h) ----
struct SigContext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2;
  uint64_t fpstate;
  uint64_t reserved1[8];
};
static_assert(sizeof(SigContext) == 256);

struct UContext {
  uint64_t flags;
  uint64_t link;
  SignalStack stack;
  SigContext mcontext;
  uint64_t sigmask;
};
static_assert(sizeof(UContext) == 304);

struct SigInfo {
  int32_t signo;
  int32_t error;
  int32_t code;
  int32_t pad;
  union {
    struct {
      int32_t pid;     // a timer's id
      uint32_t uid;    // a timer's overrun
      uint64_t value;  // sigqueue's and a timer's si_value
    } kill;
    uint64_t address;  // si_addr
    uint8_t bytes[112];
  } fields;
};
static_assert(sizeof(SigInfo) == 128);

struct RtSigframe {
  uint64_t pretcode;
  UContext uc;
  SigInfo info;
};
static_assert(sizeof(RtSigframe) == 440 && offsetof(RtSigframe, uc) == 8 && offsetof(RtSigframe, info) == 312);

constexpr uint64_t kSaSiginfo = 0x4;
constexpr uint64_t kSaRestorer = 0x04000000;
constexpr uint64_t kSaOnstack = 0x08000000;
constexpr uint64_t kSaRestart = 0x10000000;
constexpr uint64_t kSaNodefer = 0x40000000;
constexpr uint64_t kSaResethand = 0x80000000;
constexpr int32_t kSsOnstack = 1;
constexpr int32_t kSsDisable = 2;
constexpr int32_t kSsAutodisarm = static_cast<int32_t>(1u << 31);
constexpr uint64_t kUcFpXstate = 0x1;
constexpr uint64_t kUcSigcontextSs = 0x2;
constexpr uint64_t kUcStrictRestoreSs = 0x4;
constexpr uint32_t kFpXstateMagic1 = 0x46505853;
constexpr uint32_t kFpXstateMagic2 = 0x46505845;
constexpr uint64_t kRedZone = 128;
// The rflags bits rt_sigreturn takes from the frame (Linux's FIX_EFLAGS):
// AC, OF, DF, TF, SF, ZF, AF, PF, CF, RF. IF and IOPL stay as they are.
constexpr uint64_t kRestorableFlags = 0x40dd5;
// What a handler starts without: DF, TF, RF (Linux clears the same).
constexpr uint64_t kHandlerClearedFlags = 0x10500;
constexpr uint64_t kUserCanonicalLimit = uint64_t{1} << 47;
constexpr int32_t kSiKernel = 0x80;

// An alternate stack entry: whether `sp` lies on it (Linux's on_sig_stack).
bool on_stack(const SignalStack& stack, uint64_t sp) {
  return stack.size != 0 && sp > stack.sp && sp - stack.sp <= stack.size;
}

// ---- The vector state in the frame ----
alignas(64) uint8_t fx_scratch[512];
uint32_t mxcsr_mask_cache;
uint32_t mxcsr_mask() {
  if (mxcsr_mask_cache == 0) {
    asm volatile("fxsave64 %0" : "=m"(fx_scratch));
    uint32_t mask = 0;
    memcpy(&mask, fx_scratch + 28, sizeof(mask));
    mxcsr_mask_cache = mask != 0 ? mask : 0xffbf;
  }
  return mxcsr_mask_cache;
}

// Bytes of vector state in a frame: 512 (fxsave), or the XSAVE area for the
// enabled features (vector_state.h) and the 4-byte FP_XSTATE_MAGIC2.
uint64_t xsave_size() { return vector_state_size(); }

uint64_t fpu_frame_size() {
  const uint64_t features = boot_info().xsave_features;
  return features == 0 ? 512 : xsave_size() + 4;
}

void save_vector_state(uint64_t address) {
  auto* area = reinterpret_cast<uint8_t*>(address);
  const uint64_t features = boot_info().xsave_features;
  memset(area + 464, 0, 48);  // software-available bytes: neither instruction writes them
  if (features == 0) {
    save_vector_registers(area);
    return;
  }
  memset(area + 512, 0, 64);  // the XSAVE header: xrstor64 wants its reserved bytes zero
  save_vector_registers(area);
  const auto size = static_cast<uint32_t>(xsave_size());
  const uint32_t software[4] = {kFpXstateMagic1, size + 4, 0, size};  // magic1, extended_size, xfeatures...
  memcpy(area + 464, software, 8);
  memcpy(area + 472, &features, 8);
  memcpy(area + 480, &software[3], 4);
  const uint32_t magic2 = kFpXstateMagic2;
  memcpy(area + size, &magic2, 4);
}

// Restores the vector state from the app's frame; false if it cannot be.
bool restore_vector_state(uint64_t address) {
  if (address == 0) return true;  // Linux then resets it; keeping it is as safe
  const uint64_t features = boot_info().xsave_features;
  if ((address & (features == 0 ? 15 : 63)) != 0 || !user_range_ok(address, fpu_frame_size())) return false;
  auto* area = reinterpret_cast<uint8_t*>(address);
  uint32_t mxcsr = 0;
  memcpy(&mxcsr, area + 24, 4);
  mxcsr &= mxcsr_mask();
  memcpy(area + 24, &mxcsr, 4);
  if (features == 0) return load_vector_registers(area);
  uint32_t magic1 = 0, xstate_size = 0, magic2 = 0;
  memcpy(&magic1, area + 464, 4);
  memcpy(&xstate_size, area + 480, 4);
  if (magic1 == kFpXstateMagic1 && xstate_size == xsave_size()) memcpy(&magic2, area + xstate_size, 4);
  if (magic2 != kFpXstateMagic2) {
    asm volatile("fxrstor64 (%0)" : : "r"(address) : "memory");  // legacy state only, as Linux
    return true;
  }
  uint64_t xstate_bv = 0;
  memcpy(&xstate_bv, area + 512, 8);
  xstate_bv &= features;
  memcpy(area + 512, &xstate_bv, 8);
  memset(area + 520, 0, 56);
  return load_vector_registers(area);
}

struct FaultDetails {
  uint64_t error_code;
  uint64_t trapno;
  uint64_t cr2;
};

// Builds the frame for `signal`'s handler and points `frame` at it; false
// (and `frame` untouched) if the frame does not fit where it must go.
bool enter_handler(TrapFrame* frame, uint64_t signal, const SigInfo& info, const FaultDetails& fault) {
  KernelSigaction& action = process_signals.actions[signal];
  ThreadSignals& self = current_signals();
  if ((action.flags & kSaRestorer) == 0) return false;  // x86-64 Linux requires it too
  const SignalStack alternate = self.alternate_stack;
  const bool was_on_alternate = on_stack(alternate, frame->rsp);
  uint64_t sp = frame->rsp - kRedZone;
  bool entering_alternate = false;
  if ((action.flags & kSaOnstack) != 0 && alternate.size != 0 && !was_on_alternate) {
    sp = alternate.sp + alternate.size;
    entering_alternate = true;
  }
  const uint64_t fpu_size = fpu_frame_size();
  if (sp < fpu_size + sizeof(RtSigframe) + 128) return false;
  const uint64_t fpstate = (sp - fpu_size) & ~uint64_t{63};
  const uint64_t frame_address = ((fpstate - sizeof(RtSigframe)) & ~uint64_t{15}) - 8;
  if ((was_on_alternate || entering_alternate) && !on_stack(alternate, frame_address)) return false;
  if (!user_range_ok(frame_address, fpstate + fpu_size - frame_address)) return false;

  save_vector_state(fpstate);
  // Every byte of the frame is written below (each member, padding included):
  // no memset first, each emulated instruction counts.
  auto* out = reinterpret_cast<RtSigframe*>(frame_address);
  out->pretcode = action.restorer;
  out->uc.flags = kUcSigcontextSs | kUcStrictRestoreSs | (boot_info().xsave_features != 0 ? kUcFpXstate : 0);
  out->uc.link = 0;
  out->uc.stack.sp = alternate.sp;
  out->uc.stack.size = alternate.size;
  out->uc.stack.flags = (alternate.size == 0 ? kSsDisable : was_on_alternate ? kSsOnstack : 0) | alternate.flags;
  out->uc.stack.pad = 0;
  SigContext& context = out->uc.mcontext;
  context = SigContext{
      .r8 = frame->r8,
      .r9 = frame->r9,
      .r10 = frame->r10,
      .r11 = frame->r11,
      .r12 = frame->r12,
      .r13 = frame->r13,
      .r14 = frame->r14,
      .r15 = frame->r15,
      .rdi = frame->rdi,
      .rsi = frame->rsi,
      .rbp = frame->rbp,
      .rbx = frame->rbx,
      .rdx = frame->rdx,
      .rax = frame->rax,
      .rcx = frame->rcx,
      .rsp = frame->rsp,
      .rip = frame->rip,
      .eflags = frame->rflags,
      .cs = static_cast<uint16_t>(abi::kUserCodeSelector),
      .gs = 0,
      .fs = 0,
      .ss = static_cast<uint16_t>(abi::kUserDataSelector),
      .err = fault.error_code,
      .trapno = fault.trapno,
      .oldmask = self.mask_saved ? self.saved_mask : self.blocked,
      .cr2 = fault.cr2,
      .fpstate = fpstate,
      .reserved1 = {},
  };
  out->uc.sigmask = self.mask_saved ? self.saved_mask : self.blocked;
  self.mask_saved = false;
  out->info = info;

  if (entering_alternate && (alternate.flags & kSsAutodisarm) != 0) self.alternate_stack = SignalStack{};
  self.blocked |= action.mask | ((action.flags & kSaNodefer) != 0 ? 0 : signal_bit(signal));
  self.blocked &= ~kUnblockable;
  const uint64_t handler = action.handler;
  if ((action.flags & kSaResethand) != 0) {
    action.handler = kSigDefault;
    action.flags &= ~kSaSiginfo;
    volatile abi::SignalState& shared = shared_signal_state();
    shared.handled = shared.handled & ~signal_bit(signal);
  }
  frame->rip = handler;
  frame->rsp = frame_address;
  frame->rdi = signal;
  frame->rsi = frame_address + offsetof(RtSigframe, info);
  frame->rdx = frame_address + offsetof(RtSigframe, uc);
  frame->rax = 0;
  frame->rflags &= ~kHandlerClearedFlags;
  frame->cs = abi::kUserCodeSelector;
  frame->ss = abi::kUserDataSelector;
  return true;
}

// rt_sigreturn: the frame the handler returned through is at rsp - 8 (its
// `ret` popped pretcode).
bool restore_frame(TrapFrame* frame) {
  const uint64_t frame_address = frame->rsp - 8;
  if (!user_range_ok(frame_address, sizeof(RtSigframe))) return false;
  const auto* in = reinterpret_cast<const RtSigframe*>(frame_address);
  const SigContext& context = in->uc.mcontext;
  if (context.rip >= kUserCanonicalLimit || context.rsp >= kUserCanonicalLimit) return false;
  if (!restore_vector_state(context.fpstate)) return false;
  frame->r8 = context.r8;
  frame->r9 = context.r9;
  frame->r10 = context.r10;
  frame->r11 = context.r11;
  frame->r12 = context.r12;
  frame->r13 = context.r13;
  frame->r14 = context.r14;
  frame->r15 = context.r15;
  frame->rdi = context.rdi;
  frame->rsi = context.rsi;
  frame->rbp = context.rbp;
  frame->rbx = context.rbx;
  frame->rdx = context.rdx;
  frame->rax = context.rax;
  frame->rcx = context.rcx;
  frame->rsp = context.rsp;
  frame->rip = context.rip;
  frame->rflags = (frame->rflags & ~kRestorableFlags) | (context.eflags & kRestorableFlags);
  frame->cs = abi::kUserCodeSelector;
  frame->ss = abi::kUserDataSelector;
  ThreadSignals& self = current_signals();
  self.blocked = in->uc.sigmask & ~kUnblockable;
  // uc_stack as sigaltstack would take it, unless the thread is on its alternate stack.
  if (!on_stack(self.alternate_stack, context.rsp)) {
    const SignalStack& stack = in->uc.stack;
    if ((stack.flags & kSsDisable) != 0) {
      self.alternate_stack = SignalStack{};
    } else if (stack.size >= 2048) {
      self.alternate_stack = SignalStack{stack.sp, stack.flags & kSsAutodisarm, 0, stack.size};
    }
  }
  return true;
}

[[noreturn]] void killed_by_sigsegv() { hypercall_exit(128 + 11, 11); }

}  // namespace

uint64_t current_user_rsp() {
  return reinterpret_cast<const SyscallFrame*>(current_thread_stack_top() - sizeof(SyscallFrame))->rsp;
}

void update_signal_attention() {
  uint64_t work = process_signals.pending;
  for (int slot = 0; slot < thread_slots_in_use(); ++slot) {
    if (thread_slot_state(slot) == 0) continue;  // an exited thread's leftovers
    const ThreadSignals& thread = thread_signals(slot);
    work |= thread.pending | static_cast<uint64_t>(thread.sigreturn_requested) |
            static_cast<uint64_t>(thread.restart_armed) | static_cast<uint64_t>(thread.child_awaiting_registers);
  }
  volatile abi::SignalState& shared = shared_signal_state();
  shared.attention = (work | shared.from_host) != 0 ? 1 : 0;
}

bool deliver_fault_signal(TrapFrame* frame, uint64_t cr2) {
  if ((frame->cs & 3) != 3) return false;  // the guest kernel's own fault is never the app's signal
  // Ring 3 executing inside the kernel image: a `syscall` that kvm_pvm sent to the
  // LSTAR address without entering ring 0 (a site left unrewritten). The app did
  // nothing wrong, and its own SIGSEGV handler (every Go program has one) would
  // only hide the host's report, which names the site and says why.
  if (frame->vector == static_cast<uint64_t>(abi::Exception::kPageFault) && frame->rip >= abi::kKernelImageBase &&
      frame->rip < abi::kKernelImageLimit) {
    return false;
  }
  uint64_t signal = 0;
  int32_t code = kSiKernel;
  uint64_t address = 0;
  switch (static_cast<abi::Exception>(frame->vector)) {
    case abi::Exception::kDivideError:
      signal = 8, code = 1 /* FPE_INTDIV */, address = frame->rip;
      break;
    case abi::Exception::kX87Floating:
    case abi::Exception::kSimdFloating:
      signal = 8, code = 0, address = frame->rip;
      break;
    case abi::Exception::kDebug:
      signal = 5, code = 2 /* TRAP_TRACE */, address = frame->rip;
      break;
    case abi::Exception::kBreakpoint:
      signal = 5;
      break;
    case abi::Exception::kInvalidOpcode:
      signal = 4, code = 2 /* ILL_ILLOPN */, address = frame->rip;
      break;
    case abi::Exception::kOverflow:
    case abi::Exception::kBoundRange:
    case abi::Exception::kGeneralProtection:
      signal = 11;
      break;
    case abi::Exception::kSegmentNotPresent:
    case abi::Exception::kStackFault:
      signal = 7;
      break;
    case abi::Exception::kAlignmentCheck:
      signal = 7, code = 1 /* BUS_ADRALN */, address = cr2;
      break;
    case abi::Exception::kPageFault:
      signal = 11, address = cr2;
      code = (frame->error_code & 1) != 0 ? 2 /* SEGV_ACCERR */ : 1 /* SEGV_MAPERR */;
      break;
    default:
      return false;
  }
  const uint64_t handler = process_signals.actions[signal].handler;
  // Blocked or ignored, Linux kills the process with it: today's report.
  if (handler == kSigDefault || handler == kSigIgnore || (current_signals().blocked & signal_bit(signal)) != 0) {
    return false;
  }
  SigInfo info{};
  info.signo = static_cast<int32_t>(signal);
  info.code = code;
  info.fields.address = address;
  return enter_handler(frame, signal, info, FaultDetails{frame->error_code, frame->vector, cr2});
}

}  // namespace hyperlet::kernel

// entry.S, on the way back to ring 3 while SignalState::attention is set: the
// user registers are all in `frame` (vector kSyscallFrameMarker after a
// syscall). Finishes an rt_sigreturn, fixes up an interrupted syscall's result
// (restart, or EINTR), and takes every deliverable signal: a handler's frame
// for each (stacked as Linux stacks them, so the last one set up runs first,
// the others as each returns), or its default action.
extern "C" void deliver_signals(hyperlet::kernel::TrapFrame* frame) {
  using namespace hyperlet::kernel;
  const KernelLockGuard lock;
  ThreadSignals& self = current_signals();
  if (self.child_awaiting_registers != 0) {  // the first thing: the frame still holds what the clone saw
    start_cloned_thread(self.child_awaiting_registers - 1, *frame);
    self.child_awaiting_registers = 0;
  }
  if (self.sigreturn_requested) {
    self.sigreturn_requested = false;
    self.restart_armed = false;
    if (!restore_frame(frame)) killed_by_sigsegv();
  }
  route_pending_signals();  // what the host sent; may wake other threads
  bool restart = false;
  if (self.restart_armed && frame->vector == kSyscallFrameMarker) {
    const auto result = static_cast<int64_t>(frame->rax);
    restart = result == -kRestartSys || result == -kRestartNoHand;
  }
  self.restart_armed = false;
  for (;;) {
    // The thread's own signals first, then the process's; the lowest number of each first (Linux's order).
    const uint64_t own = self.pending & ~self.blocked;
    const uint64_t deliverable = own != 0 ? own : process_signals.pending & ~self.blocked;
    if (deliverable == 0) break;
    const uint64_t signal = static_cast<uint64_t>(__builtin_ctzll(deliverable)) + 1;
    const PendingInfo pending = take_signal(signal);
    const KernelSigaction& action = process_signals.actions[signal];
    if (action.handler == kSigIgnore || (action.handler == kSigDefault && default_keeps_running(signal))) continue;
    if (action.handler == kSigDefault) {
      hypercall_exit(static_cast<int64_t>(128 + signal), static_cast<int64_t>(signal));
    }
    if (restart) {
      restart = false;
      const auto result = static_cast<int64_t>(frame->rax);
      if (result == -kRestartSys && (action.flags & kSaRestart) != 0) {
        frame->rax = self.restart_number;
        frame->rip -= 2;  // `int 0x81` and `syscall` are both 2 bytes
      } else {
        frame->rax = static_cast<uint64_t>(error(EINTR));
        self.sleep_deadline_ns = 0;  // a later restart_syscall has nothing to go on with
      }
    }
    SigInfo info{};
    info.signo = static_cast<int32_t>(signal);
    info.code = pending.code;
    info.fields.kill.pid = pending.pid;
    info.fields.kill.uid = static_cast<uint32_t>(pending.uid);
    info.fields.kill.value = pending.value;
    if (!enter_handler(frame, signal, info, FaultDetails{0, 0, 0})) killed_by_sigsegv();
    // As Linux, every signal still deliverable under the handler's mask gets
    // its frame now, each above the last: the last one's handler runs first.
  }
  if (restart) {  // no handler ran: the call goes on (a sleep, for the time it had left)
    frame->rax = syscall_to_restart(self);
    frame->rip -= 2;
  }
  if (self.mask_saved) {  // rt_sigsuspend's signal ran no handler: its mask ends now
    self.blocked = self.saved_mask;
    self.mask_saved = false;
  }
  update_signal_attention();
}
