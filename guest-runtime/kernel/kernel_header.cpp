// The table the host reads to find the kernel's entry points (abi.h: KernelHeader).
#include <hyperlet/abi.h>

#include "smp.h"

extern "C" {
void kernel_entry();
void syscall_entry();
void syscall_trap_entry();
void preempt_entry();
void secondary_entry();
void syscall_entry_cpus();
#define DECLARE_EXCEPTION(n) void exception_entry_##n();
DECLARE_EXCEPTION(0) DECLARE_EXCEPTION(1) DECLARE_EXCEPTION(2) DECLARE_EXCEPTION(3)
DECLARE_EXCEPTION(4) DECLARE_EXCEPTION(5) DECLARE_EXCEPTION(6) DECLARE_EXCEPTION(7)
DECLARE_EXCEPTION(8) DECLARE_EXCEPTION(9) DECLARE_EXCEPTION(10) DECLARE_EXCEPTION(11)
DECLARE_EXCEPTION(12) DECLARE_EXCEPTION(13) DECLARE_EXCEPTION(14) DECLARE_EXCEPTION(15)
DECLARE_EXCEPTION(16) DECLARE_EXCEPTION(17) DECLARE_EXCEPTION(18) DECLARE_EXCEPTION(19)
DECLARE_EXCEPTION(20) DECLARE_EXCEPTION(21) DECLARE_EXCEPTION(22) DECLARE_EXCEPTION(23)
DECLARE_EXCEPTION(24) DECLARE_EXCEPTION(25) DECLARE_EXCEPTION(26) DECLARE_EXCEPTION(27)
DECLARE_EXCEPTION(28) DECLARE_EXCEPTION(29) DECLARE_EXCEPTION(30) DECLARE_EXCEPTION(31)
#undef DECLARE_EXCEPTION
}

#define ADDRESS(f) reinterpret_cast<uint64_t>(&(f))

[[gnu::section(".kernel_header"), gnu::used]] const hyperlet::abi::KernelHeader kKernelHeader = {
    .magic = hyperlet::abi::kKernelMagic,
    .abi_version = hyperlet::abi::kAbiVersion,
    .reserved = 0,
    .entry = ADDRESS(kernel_entry),
    .syscall_entry = ADDRESS(syscall_entry),
    .syscall_trap_entry = ADDRESS(syscall_trap_entry),
    .exception_entries = {
        ADDRESS(exception_entry_0), ADDRESS(exception_entry_1), ADDRESS(exception_entry_2),
        ADDRESS(exception_entry_3), ADDRESS(exception_entry_4), ADDRESS(exception_entry_5),
        ADDRESS(exception_entry_6), ADDRESS(exception_entry_7), ADDRESS(exception_entry_8),
        ADDRESS(exception_entry_9), ADDRESS(exception_entry_10), ADDRESS(exception_entry_11),
        ADDRESS(exception_entry_12), ADDRESS(exception_entry_13), ADDRESS(exception_entry_14),
        ADDRESS(exception_entry_15), ADDRESS(exception_entry_16), ADDRESS(exception_entry_17),
        ADDRESS(exception_entry_18), ADDRESS(exception_entry_19), ADDRESS(exception_entry_20),
        ADDRESS(exception_entry_21), ADDRESS(exception_entry_22), ADDRESS(exception_entry_23),
        ADDRESS(exception_entry_24), ADDRESS(exception_entry_25), ADDRESS(exception_entry_26),
        ADDRESS(exception_entry_27), ADDRESS(exception_entry_28), ADDRESS(exception_entry_29),
        ADDRESS(exception_entry_30), ADDRESS(exception_entry_31)},
    .preempt_entry = ADDRESS(preempt_entry),
    .secondary_entry = ADDRESS(secondary_entry),
    .syscall_entry_cpus = ADDRESS(syscall_entry_cpus),
    .cpu_areas = ADDRESS(hyperlet::kernel::cpu_areas),
};
static_assert(hyperlet::abi::kMaxCpus == 16 && hyperlet::abi::kSyscallEntryStride == 64,
              "entry.S: MAX_CPUS, SYSCALL_ENTRY_STRIDE");
