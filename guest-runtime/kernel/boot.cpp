// Ring-0 start: the host has already built page tables, GDT, IDT and TSS and
// written the app and its stack, so the kernel only starts kvmclock, notes the
// time and returns to entry.S, which enters the app in ring 3.
#include <stddef.h>

#include <hyperlet/abi.h>
#include <hyperlet/pvclock.h>

#include "msr.h"
#include "boot_info.h"
#include "smp.h"
#include "syscalls/syscalls.h"
#include "time.h"

static_assert(offsetof(hyperlet::abi::BootInfo, entry) == 0x58, "entry.S reads BootInfo.entry");
static_assert(offsetof(hyperlet::abi::BootInfo, initial_rsp) == 0x60,
              "entry.S reads BootInfo.initial_rsp");

extern "C" hyperlet::abi::BootInfo* kernel_main(hyperlet::abi::BootInfo* info) {
  hyperlet::kernel::write_msr(hyperlet::kernel::kMsrKvmSystemTimeNew, hyperlet::abi::kPvclockAddr | 1);
  hyperlet::kernel::init_memory();
  if (info->cpu_count > 1) {
    hyperlet::kernel::cpu_count = info->cpu_count;
    hyperlet::kernel::set_direct_forward_blocker(hyperlet::kernel::DirectForwardBlocker::kCpus, true);
  }
  if (info->signals_ignored != 0 || info->signals_blocked != 0 || info->exec_carried.pending_count != 0 ||
      info->exec_carried.signalfd_count != 0) {
    hyperlet::kernel::signals_after_exec();
  }
  hyperlet::kernel::update_direct_syscall_port();
  const uint64_t now = hyperlet::kernel::kvmclock_ns();
  info->kernel_entry_ns = now;
  info->app_entry_ns = now;
  return info;
}
