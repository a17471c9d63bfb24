// The big kernel lock, idle vCPUs and TLB shootdown (smp.h).
#include "smp.h"

#include <hyperlet/abi.h>

#include "hypercall.h"

namespace hyperlet::kernel {

uint32_t cpu_count = 1;
// vCPU 0 starts in ring 3 after boot; the others start in the kernel and reach
// ring 3 only through kernel_unlock.
CpuState cpu_states[abi::kMaxCpus] = {{0, 0, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0},
                                      {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0},
                                      {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}};
static_assert(abi::kMaxCpus == 16, "cpu_states' initializer");
volatile uint64_t idle_cpus;
abi::CpuArea cpu_areas[abi::kMaxCpus - 1];

namespace {

volatile uint32_t lock_word;
// Bumped (under the lock) each time a page became absent; a vCPU that saw an
// older value reloads CR3 before it runs app code again.
volatile uint64_t tlb_generation;

void flush_if_needed(CpuState& me) {
  const uint64_t generation = __atomic_load_n(&tlb_generation, __ATOMIC_SEQ_CST);
  if (me.tlb_seen == generation) return;
  uint64_t cr3;
  asm volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
  __atomic_store_n(&me.tlb_seen, generation, __ATOMIC_SEQ_CST);
}

// Spins of an emulated ring 0 (~1 us each on kvm_pvm) before the host thread gives
// its CPU away: the holder's vCPU thread may be waiting for one.
constexpr int kSpinsBeforeYield = 32;

void acquire(CpuState& me, uint32_t cpu) {
  int spins = 0;
  while (__atomic_exchange_n(&lock_word, 1, __ATOMIC_ACQUIRE) != 0) {
    // A holder may wait for this vCPU's flush (tlb_shootdown) while we wait for it.
    while (__atomic_load_n(&lock_word, __ATOMIC_RELAXED) != 0) {
      flush_if_needed(me);
      asm volatile("pause");
      if (++spins == kSpinsBeforeYield) {
        // kSleep for 0 ns: the host yields this vCPU's thread (sched_yield).
        // Our own argument page: we do not hold the lock.
        spins = 0;
        abi::HypercallArgs& args =
            cpu == 0 ? *reinterpret_cast<abi::HypercallArgs*>(abi::kHypercallArgsAddr) : cpu_hypercall_args(cpu);
        args.sleep.nanoseconds = 0;
        const uint16_t port =
            static_cast<uint16_t>(abi::kHypercallPortBase + static_cast<uint16_t>(abi::Hypercall::kSleep));
        const uint32_t value = static_cast<uint32_t>(reinterpret_cast<uint64_t>(&args));
        asm volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
      }
    }
  }
  me.lock_depth = 1;
}

}  // namespace

abi::HypercallArgs& cpu_hypercall_args(uint32_t cpu) {
  return *reinterpret_cast<abi::HypercallArgs*>(cpu_areas[cpu - 1].hypercall_args);
}

void kernel_lock_slow() {
  const uint32_t cpu = this_cpu();
  CpuState& me = cpu_states[cpu];
  if (me.lock_depth != 0) {
    ++me.lock_depth;
    return;
  }
  // Dekker with tlb_shootdown: it writes the generation, then reads in_kernel;
  // we write in_kernel, then read the generation. One of us sees the other.
  __atomic_exchange_n(&me.in_kernel, 1, __ATOMIC_SEQ_CST);
  flush_if_needed(me);
  acquire(me, cpu);
}

void kernel_unlock_slow() {
  CpuState& me = cpu_states[this_cpu()];
  if (--me.lock_depth != 0) return;
  __atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE);
  __atomic_exchange_n(&me.in_kernel, 0, __ATOMIC_SEQ_CST);
  flush_if_needed(me);
}

void kernel_unlock_for_idle() {
  CpuState& me = cpu_states[this_cpu()];
  me.lock_depth = 0;
  __atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE);
}

void kernel_lock_after_idle() {
  const uint32_t cpu = this_cpu();
  CpuState& me = cpu_states[cpu];
  flush_if_needed(me);
  acquire(me, cpu);
}

void forget_other_cpus(uint32_t from) {
  const CpuState mine = cpu_states[from];
  for (CpuState& state : cpu_states) state = CpuState{0, 1, 0};  // in the kernel until they run, as at boot
  cpu_states[0] = mine;
  idle_cpus = 0;
}

void kick_idle_cpus() {
  if (cpu_count == 1) return;
  const uint64_t others = idle_cpus & ~(uint64_t{1} << this_cpu());
  if (others == 0) return;
  hypercall_args().cpus.cpus = others;
  hypercall(abi::Hypercall::kKickCpus);
}

void tlb_shootdown() {
  if (cpu_count == 1) return;
  const uint32_t self = this_cpu();
  const uint64_t generation = __atomic_add_fetch(&tlb_generation, 1, __ATOMIC_SEQ_CST);
  cpu_states[self].tlb_seen = generation;  // the caller flushed its own translations
  // vCPUs in the kernel flush before they return to ring 3 (kernel_unlock);
  // those that may run app code now are interrupted and waited for.
  uint64_t waiting = 0;
  for (uint32_t cpu = 0; cpu < cpu_count; ++cpu) {
    if (cpu == self) continue;
    if (__atomic_load_n(&cpu_states[cpu].in_kernel, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_load_n(&cpu_states[cpu].tlb_seen, __ATOMIC_SEQ_CST) != generation) {
      waiting |= uint64_t{1} << cpu;
    }
  }
  if (waiting == 0) return;
  hypercall_args().cpus.cpus = waiting;
  hypercall(abi::Hypercall::kShootdown);
  for (uint32_t cpu = 0; cpu < cpu_count; ++cpu) {
    if ((waiting & (uint64_t{1} << cpu)) == 0) continue;
    while (__atomic_load_n(&cpu_states[cpu].tlb_seen, __ATOMIC_SEQ_CST) != generation) asm volatile("pause");
  }
}

}  // namespace hyperlet::kernel

// entry.S: thread_start, a new thread's first return to ring 3.
extern "C" void thread_started() { hyperlet::kernel::kernel_unlock(); }
