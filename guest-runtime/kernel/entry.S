// Ring-0 entry points of the guest kernel: boot, the two syscall paths and the
// CPU exception stubs. Syscalls save a SyscallFrame, exceptions a TrapFrame
// (trap_frame.h); every ring-0 instruction here is emulated on kvm_pvm
// (~0.3-0.5 us each), so these paths are kept as short as possible.

#define KERNEL_STACK_TOP 0x20000
#define USER_DS (0x18 | 3)
#define USER_CS (0x20 | 3)
#define PREEMPT_VECTOR 0x20  // abi::kPreemptVector (checked in threads.cpp)
#define SIGNAL_ATTENTION 0x6f10  // &abi::SignalState::attention (checked in exceptions.cpp)
#define SYSCALL_FRAME_MARKER 0x100  // kSyscallFrameMarker (signal_state.h)
#define MAX_CPUS 16                 // abi::kMaxCpus (checked in kernel_header.cpp)
#define SYSCALL_ENTRY_STRIDE 64     // abi::kSyscallEntryStride
#define HYPERCALL_ARGS 0x5000       // abi::kHypercallArgsAddr (checked in direct_forward.cpp)
#define SYSCALL_COUNTS 0x6000       // abi::kSyscallCountsAddr
#define DIRECT_FORWARD_SLOTS 512    // abi::kSyscallCountSlots: direct_forward_numbers' size
#define HOST_SYSCALL_PORT 0x701     // abi::kHypercallPortBase + Hypercall::kHostSyscall
#define EINTR 4
#define EPIPE 32
#define DIRECT_SYSCALL_OPCODE 0x10e7  // abi::kDirectSyscallOpcode (e7 10) as a word
#define DIRECT_SYSCALL_FINISH 0x5ff8  // abi::kDirectSyscallFinishAddr
#define DIRECT_SYSCALL_SENT_BACK 2    // abi::kDirectSyscallSentBack
#define TSS_PORT_BYTE 0x406a          // abi::kTssIoBitmapPortByte
#define TSS_PORT_OPEN 0xf0            // abi::kTssIoBitmapOpen

.macro RESTORE_REGS
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rbp
  popq %rdi
  popq %rsi
  popq %rdx
  popq %rcx
  popq %rbx
  popq %rax
.endm

// For the #UD and #GP stubs, rax already pushed: calls `function`(rip at
// `rip_offset` past the saves below) saving what a call may clobber, pops rax
// too, and leaves ZF clear when it answered true (the pops keep the flags).
// `pad` 8 keeps the call 16-byte aligned when the CPU pushed an error code
// (#GP: six words, #UD: five); rip_offset counts it.
.macro ASK_ABOUT_PAGE_END function, rip_offset, pad=0
  leaq -\pad(%rsp), %rsp
  pushq %rcx
  pushq %rdx
  pushq %rsi
  pushq %rdi
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
  movq \rip_offset(%rsp), %rdi
  cld                       // compiled code assumes DF clear; the app's is in rflags
  call \function
  testb %al, %al
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rdi
  popq %rsi
  popq %rdx
  popq %rcx
  leaq \pad(%rsp), %rsp     // lea: the flags stay
  popq %rax
.endm

.macro SAVE_REGS
  pushq %rax
  pushq %rbx
  pushq %rcx
  pushq %rdx
  pushq %rsi
  pushq %rdi
  pushq %rbp
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
.endm

.text
.code64

// The host starts the vCPU here in 64-bit ring 0 with rsp = KERNEL_STACK_TOP and
// rdi = &BootInfo. kernel_main returns the BootInfo; we then drop to ring 3.
.global kernel_entry
kernel_entry:
  call kernel_main
  pushq $USER_DS
  pushq 0x60(%rax)          // BootInfo.initial_rsp (offset checked in boot.cpp)
  pushq $0x202              // IF set, reserved bit 1
  pushq $USER_CS
  pushq 0x58(%rax)          // BootInfo.entry (offset checked in boot.cpp)
  // A fresh process sees zeroed registers; rdx = 0 means "no atexit hook" to _start.
  xorl %eax, %eax
  xorl %ebx, %ebx
  xorl %ecx, %ecx
  xorl %edx, %edx
  xorl %esi, %esi
  xorl %edi, %edi
  xorl %ebp, %ebp
  xorl %r8d, %r8d
  xorl %r9d, %r9d
  xorl %r10d, %r10d
  xorl %r11d, %r11d
  xorl %r12d, %r12d
  xorl %r13d, %r13d
  xorl %r14d, %r14d
  xorl %r15d, %r15d
  iretq

// `int 0x81`: the rewritten form of the app's `syscall` instructions. A syscall
// may clobber rcx and r11, and C++ preserves rbx, rbp, r12-r15, so only the
// argument registers and rax are saved: a SyscallFrame (trap_frame.h). Every
// instruction saved here is ~0.5 us per syscall on kvm_pvm.
//
// First the fast path (direct_forward.cpp): a common I/O call that nothing in
// the guest kernel needs to see goes to the host from here, ~30 instructions
// instead of ~125 through handle_syscall. rcx and r11 are the syscall's to
// clobber; every other register the app had comes back unchanged.
.global syscall_trap_entry
syscall_trap_entry:
  cmpb $0, direct_forward_blockers
  jne syscall_trap_slow
  cmpq $DIRECT_FORWARD_SLOTS, %rax
  jae syscall_trap_slow
  cmpb $0, direct_forward_numbers(%rax)
  je syscall_trap_slow
  cmpq $0, SIGNAL_ATTENTION
  jne syscall_trap_slow
  movq %rax, HYPERCALL_ARGS
  movq %rdi, HYPERCALL_ARGS+8
  movq %rsi, HYPERCALL_ARGS+16
  movq %rdx, HYPERCALL_ARGS+24
  movq %r10, HYPERCALL_ARGS+32
  movq %r8, HYPERCALL_ARGS+40
  movq %r9, HYPERCALL_ARGS+48
  incl SYSCALL_COUNTS(,%rax,4)
  movl $HYPERCALL_ARGS, %eax
  movl $HOST_SYSCALL_PORT, %edx
  outl %eax, %dx
  movq HYPERCALL_ARGS+24, %rdx
  movq HYPERCALL_ARGS+56, %rax
  cmpq $-EINTR, %rax
  je direct_forward_finish
  cmpq $-EPIPE, %rax
  je direct_forward_finish
  cmpq $0, SIGNAL_ATTENTION  // a signal came while the host had the call
  jne direct_forward_finish
  iretq

// The slow path's frame, its rax the number, for the tail dispatch runs after
// a forwarded call; then the common return (signals included).
direct_forward_finish:
  pushq HYPERCALL_ARGS      // the number
  pushq %r9
  pushq %r8
  pushq %r10
  pushq %rdx
  pushq %rsi
  pushq %rdi
  movq %rsp, %rdi
  movq %rax, %rsi
  cld
  call finish_direct_forward
  jmp syscall_return

syscall_trap_slow:
  cld                       // the app may have set DF: the kernel's memcpy/memset need it clear
  pushq %rax
  pushq %r9                 // pushed in reverse so that the six arguments lie
  pushq %r8                 // in memory in syscall order: the frame starts
  pushq %r10                // with a ready-made args[6]
  pushq %rdx
  pushq %rsi
  pushq %rdi
  movq %rsp, %rdi
  call handle_syscall
// A new thread's first return to ring 3 starts here (threads.cpp: sys_clone).
// Signals cost this path one compare while none needs looking at.
.global syscall_return
syscall_return:
  cmpq $0, SIGNAL_ATTENTION
  jne syscall_return_signals
  popq %rdi
  popq %rsi
  popq %rdx
  popq %r10
  popq %r8
  popq %r9
  popq %rax
  iretq

// A signal to deliver, an rt_sigreturn to finish or a syscall to restart:
// the whole user register state goes into a TrapFrame (rbx, rbp, r12-r15 are
// still the app's, kept by the C++ code; rcx and r11 as `syscall` leaves
// them), deliver_signals (signal_delivery.cpp) may rewrite it, iretq.
syscall_return_signals:
  popq %rdi
  popq %rsi
  popq %rdx
  popq %r10
  popq %r8
  popq %r9
  popq %rax
  movq (%rsp), %rcx         // rip
  movq 16(%rsp), %r11       // rflags
  pushq $0
  pushq $SYSCALL_FRAME_MARKER
  SAVE_REGS
return_with_signals:
  movq %rsp, %rdi
  call deliver_signals
  RESTORE_REGS
  addq $16, %rsp            // vector, error code
  iretq

// LSTAR target for the hardware `syscall` path: rcx = user rip, r11 = user
// rflags, rsp still the user's. One vCPU: the running thread's kernel stack,
// the same one TSS.rsp0 gives the trap path (threads.cpp switches both).
// It builds the interrupt frame the trap path gets from the CPU and joins it.
.global syscall_entry
syscall_entry:
  movq %rsp, user_rsp_scratch(%rip)
  movq current_kernel_stack_top(%rip), %rsp
  pushq $USER_DS
  pushq user_rsp_scratch(%rip)
  pushq %r11
  pushq $USER_CS
  pushq %rcx
  jmp syscall_trap_entry

// The same for vCPU N > 0 (--cpus): the host points its LSTAR at stub N,
// which uses vCPU N's own scratch word and kernel stack (no swapgs: the app
// may use GS). Stub 0 is never used.
.balign SYSCALL_ENTRY_STRIDE
.global syscall_entry_cpus
syscall_entry_cpus:
.set cpu, 0
.rept MAX_CPUS
  .balign SYSCALL_ENTRY_STRIDE
  movq %rsp, user_rsp_scratch_cpus+8*cpu(%rip)
  movq kernel_stack_top_cpus+8*cpu(%rip), %rsp
  pushq $USER_DS
  pushq user_rsp_scratch_cpus+8*cpu(%rip)
  pushq %r11
  pushq $USER_CS
  pushq %rcx
  jmp syscall_trap_entry
  .set cpu, cpu+1
.endr

// A new thread's first return to ring 3 (threads.cpp: sys_clone): the vCPU
// that switched to it holds the kernel lock (smp.h), which goes back first.
.global thread_start
thread_start:
  call thread_started
  jmp syscall_return

// vCPU N > 0 starts here (--cpus), in ring 0 on its idle stack, rdi = N.
.global secondary_entry
secondary_entry:
  call secondary_main
1:
  hlt
  jmp 1b

// On kvm_pvm a ring-3 `int 0x81` arrives here as #UD with rip at the
// instruction. The fast path recognises our two bytes before saving anything,
// steps over them and continues as the gate would have. Only the byte at rip
// is known to be mapped (the CPU fetched it in ring 3): a one-byte bad opcode
// may be the last of its page with nothing, or a PROT_NONE page, after it. So
// the fast path reads two bytes only when both lie in rip's page; at a page's
// last byte, syscall_trap_at (exceptions.cpp) checks the page tables first.
.global exception_entry_6
exception_entry_6:
  testb $3, 8(%rsp)         // CS of the interrupted code: from ring 3?
  jz 1f
  pushq %rax
  movq 8(%rsp), %rax        // rip
  incq %rax                 // the second byte of a trap: on rip's page?
  testl $0xfff, %eax
  jz 2f
  cmpw $0x81cd, -1(%rax)    // cd 81 = int 0x81
  popq %rax
  jne 1f
  addq $2, (%rsp)
  jmp syscall_trap_entry
1:
  pushq $0
  pushq $6
  jmp exception_common
2:                          // rip is the last byte of its page (rare): ask C++
  ASK_ABOUT_PAGE_END syscall_trap_at, 72
  jz 1b
  addq $2, (%rsp)
  jmp syscall_trap_entry

// A direct syscall (abi.h: `out %eax, $0x10` in place of a `syscall`) while
// its port is closed raises #GP(0) at the instruction: recognised as #UD's
// `int 0x81` is, before anything is saved, and made as the syscall. The host
// may have closed the port just to send this call here (kDirectSyscallSentBack):
// then it opens again. Stack: error code, rip, cs, rflags, rsp, ss.
.global exception_entry_13
exception_entry_13:
  testb $3, 16(%rsp)        // CS: from ring 3?
  jz 1f
  cmpq $0, (%rsp)           // a port check's error code
  jne 1f
  pushq %rax
  movq 16(%rsp), %rax       // rip
  incq %rax                 // the second byte: on rip's page?
  testl $0xfff, %eax
  jz 2f
  cmpw $DIRECT_SYSCALL_OPCODE, -1(%rax)
  popq %rax
  jne 1f
3:
  addq $8, %rsp             // the error code
  addq $2, (%rsp)           // past the out, as past a syscall
  cmpq $DIRECT_SYSCALL_SENT_BACK, DIRECT_SYSCALL_FINISH
  jne syscall_trap_entry
  movq $0, DIRECT_SYSCALL_FINISH
  movb $TSS_PORT_OPEN, TSS_PORT_BYTE
  jmp syscall_trap_entry
1:
  pushq $13
  jmp exception_common
2:                          // rip is the last byte of its page (rare): ask C++
  ASK_ABOUT_PAGE_END direct_syscall_at, 88, 8  // rip above the pad, rax and the error code
  jz 1b
  jmp 3b

.macro EXCEPTION_NO_ERROR vector
.global exception_entry_\vector
exception_entry_\vector:
  pushq $0
  pushq $\vector
  jmp exception_common
.endm

.macro EXCEPTION_WITH_ERROR vector
.global exception_entry_\vector
exception_entry_\vector:
  pushq $\vector
  jmp exception_common
.endm

EXCEPTION_NO_ERROR 0
EXCEPTION_NO_ERROR 1
EXCEPTION_NO_ERROR 2
EXCEPTION_NO_ERROR 3
EXCEPTION_NO_ERROR 4
EXCEPTION_NO_ERROR 5
EXCEPTION_NO_ERROR 7
EXCEPTION_WITH_ERROR 8
EXCEPTION_NO_ERROR 9
EXCEPTION_WITH_ERROR 10
EXCEPTION_WITH_ERROR 11
EXCEPTION_WITH_ERROR 12
EXCEPTION_WITH_ERROR 14
EXCEPTION_NO_ERROR 15
EXCEPTION_NO_ERROR 16
EXCEPTION_WITH_ERROR 17
EXCEPTION_NO_ERROR 18
EXCEPTION_NO_ERROR 19
EXCEPTION_NO_ERROR 20
EXCEPTION_WITH_ERROR 21
EXCEPTION_NO_ERROR 22
EXCEPTION_NO_ERROR 23
EXCEPTION_NO_ERROR 24
EXCEPTION_NO_ERROR 25
EXCEPTION_NO_ERROR 26
EXCEPTION_NO_ERROR 27
EXCEPTION_NO_ERROR 28
EXCEPTION_WITH_ERROR 29
EXCEPTION_WITH_ERROR 30
EXCEPTION_NO_ERROR 31

// The end of a time slice: the host injects kPreemptVector (KVM_INTERRUPT)
// only while the app has more than one thread, and only when the guest runs
// with IF=1, which is ring 3 alone (every gate and the LSTAR path enter ring 0
// with IF=0, and ring 0 never sets it): the kernel is never interrupted, so it
// needs no reentrancy. The whole user register state goes into a TrapFrame on
// the thread's kernel stack; handle_preempt may switch threads (thread_switch
// keeps this frame where it is) and returns when this thread runs again.
.global preempt_entry
preempt_entry:
  testb $3, 8(%rsp)         // interrupted ring 0? (cannot happen: IF=0 there)
  jz 1f
  cld                       // the app's DF is restored by iretq
  pushq $0
  pushq $PREEMPT_VECTOR
  SAVE_REGS
  movq %rsp, %rdi           // the TrapFrame (a direct syscall's finish writes its rax)
  call handle_preempt
  cmpq $0, SIGNAL_ATTENTION // a signal (one sent to hyperlet comes this way)
  jne return_with_signals
  RESTORE_REGS
  addq $16, %rsp            // vector, error code
1:
  iretq

// Cooperative thread switch (threads.cpp): thread_switch(&save_rsp, next_rsp)
// saves the callee-saved registers and rsp on the current kernel stack and
// resumes the thread whose kernel stack is at next_rsp.
.global thread_switch
thread_switch:
  pushq %rbx
  pushq %rbp
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbp
  popq %rbx
  ret

// An exception: the app's handler for its signal runs (handle_exception
// rewrote the frame and returned), or handle_exception reports it and the VM ends.
exception_common:
  cld
  SAVE_REGS
  movq %rsp, %rdi
  call handle_exception
  RESTORE_REGS
  addq $16, %rsp            // vector, error code
  iretq

.data
.balign 8
.global current_kernel_stack_top
current_kernel_stack_top:
  .quad KERNEL_STACK_TOP

.global kernel_stack_top_cpus
kernel_stack_top_cpus:
  .fill MAX_CPUS, 8, 0

.bss
.balign 8
user_rsp_scratch:
  .quad 0
user_rsp_scratch_cpus:
  .fill MAX_CPUS, 8, 0
