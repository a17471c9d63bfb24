// More than one vCPU (--cpus N): the guest kernel's per-vCPU data and its one lock.
//
// The kernel runs under one big kernel lock (BKL): every entry from ring 3
// (syscall, time slice, exception, signal delivery) takes it and every return
// to ring 3 gives it back; a vCPU with nothing to run gives it back while it
// sleeps on the host (kSleep). App code runs in parallel on every vCPU, kernel
// code on one at a time, so the single-vCPU kernel's data needs no locks of
// its own. Ring 0 always runs with IF=0 (kPreemptVector arrives only in ring
// 3), so a lock holder is never preempted. With one vCPU none of this runs:
// every function here returns at its first compare.
#pragma once

#include <hyperlet/abi.h>
#include <stdint.h>

namespace hyperlet::kernel {

extern uint32_t cpu_count;  // BootInfo.cpu_count (1 when the host wrote none)

// The vCPU this code runs on: from the kernel stack rsp lies on (a thread's,
// or a vCPU's idle or fault stack), so it costs no privileged instruction.
uint32_t this_cpu();

void kernel_lock_slow();
void kernel_unlock_slow();
// Inline, so that with one vCPU each costs a compare (every ring-0 instruction
// is emulated on kvm_pvm).
inline void kernel_lock() {
  if (cpu_count != 1) kernel_lock_slow();
}
inline void kernel_unlock() {
  if (cpu_count != 1) kernel_unlock_slow();
}

// A forked child starts on one vCPU (the host gives it the forking vCPU's
// state as vCPU 0's) and gets the others when its second thread appears, as
// at boot: the per-vCPU states of the parent's other vCPUs go back to that
// start, and the caller's (`from`, holding the lock) becomes vCPU 0's.
void forget_other_cpus(uint32_t from);

// Wakes every other vCPU that sleeps for lack of work (a thread became runnable).
void kick_idle_cpus();

// After a page became absent (PROT_NONE): every other vCPU drops its cached
// translations before it runs app code again; returns once that is certain.
void tlb_shootdown();

// The lock word and the per-vCPU state threads.cpp's scheduler shares.
struct CpuState {
  uint64_t tlb_seen;    // the tlb_generation this vCPU last flushed for
  uint32_t in_kernel;   // 1 from its kernel_lock to its return to ring 3 (also while idle)
  uint32_t lock_depth;  // nested kernel_lock calls on this vCPU
};
extern CpuState cpu_states[];
extern volatile uint64_t idle_cpus;  // bit N: vCPU N sleeps in kSleep for lack of work
extern abi::CpuArea cpu_areas[];     // vCPU N > 0's is cpu_areas[N - 1]

// Called by the idle loop around its kSleep: the lock goes, the vCPU stays "in kernel".
void kernel_unlock_for_idle();
void kernel_lock_after_idle();

struct KernelLockGuard {
  KernelLockGuard() { kernel_lock(); }
  ~KernelLockGuard() { kernel_unlock(); }
  KernelLockGuard(const KernelLockGuard&) = delete;
  KernelLockGuard& operator=(const KernelLockGuard&) = delete;
};

}  // namespace hyperlet::kernel
