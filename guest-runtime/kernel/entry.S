// Ring-0 entry points of the guest kernel: boot, the two syscall paths and the
// CPU exception stubs. Every path saves the registers as a TrapFrame
// (trap_frame.h) and calls into C++; every ring-0 instruction here is emulated
// on kvm_pvm (~0.3 us each), so these paths are kept as short as possible.

#define KERNEL_STACK_TOP 0x20000
#define USER_DS (0x18 | 3)
#define USER_CS (0x20 | 3)

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

.text
.code64

// The host starts the vCPU here in 64-bit ring 0 with rsp = KERNEL_STACK_TOP and
// rdi = &BootInfo. kernel_main returns the BootInfo; we then drop to ring 3.
.global kernel_entry
kernel_entry:
  call kernel_main
  pushq $USER_DS
  pushq 0x58(%rax)          // BootInfo.initial_rsp (offset checked in boot.cpp)
  pushq $0x202              // IF set, reserved bit 1
  pushq $USER_CS
  pushq 0x50(%rax)          // BootInfo.entry (offset checked in boot.cpp)
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

// `int 0x81`: the rewritten form of the app's `syscall` instructions.
.global syscall_trap_entry
syscall_trap_entry:
  pushq $0                  // error code slot
  pushq $0x81               // vector slot
  SAVE_REGS
  movq %rsp, %rdi
  call handle_syscall
  RESTORE_REGS
  addq $16, %rsp
  iretq

// LSTAR target for the hardware `syscall` path: rcx = user rip, r11 = user
// rflags, rsp still the user's. One vCPU, so one fixed kernel stack suffices.
.global syscall_entry
syscall_entry:
  movq %rsp, user_rsp_scratch(%rip)
  movq $KERNEL_STACK_TOP, %rsp
  pushq $USER_DS
  pushq user_rsp_scratch(%rip)
  pushq %r11
  pushq $USER_CS
  pushq %rcx
  pushq $0
  pushq $0x81
  SAVE_REGS
  movq %rsp, %rdi
  call handle_syscall
  RESTORE_REGS
  addq $16, %rsp
  iretq

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
EXCEPTION_NO_ERROR 6
EXCEPTION_NO_ERROR 7
EXCEPTION_WITH_ERROR 8
EXCEPTION_NO_ERROR 9
EXCEPTION_WITH_ERROR 10
EXCEPTION_WITH_ERROR 11
EXCEPTION_WITH_ERROR 12
EXCEPTION_WITH_ERROR 13
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

// handle_exception returns only when the exception was a syscall in disguise
// (see exceptions.cpp); every real fault ends the VM from inside it.
exception_common:
  SAVE_REGS
  movq %rsp, %rdi
  call handle_exception
  RESTORE_REGS
  addq $16, %rsp
  iretq

.bss
.balign 8
user_rsp_scratch:
  .quad 0
