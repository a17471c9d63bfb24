// What --stats reports at exit.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hyperlet {

struct RunStats {
  // Host CLOCK_MONOTONIC nanoseconds of each boot phase; 0 = not reached.
  std::uint64_t started = 0;
  std::uint64_t vm_created = 0;
  std::uint64_t image_loaded = 0;  // or, for `run --restore`, the snapshot restored
  bool restored = false;
  std::uint64_t reset_pages = 0;  // a reused VM's last reset: pages given the snapshot's bytes again
  bool reset_protected = false;   // ... and it write-protected the guest's pages again (vm/kept_dirty_pages.h)
  std::uint64_t first_instruction = 0;
  std::uint64_t app_entry = 0;
  std::uint64_t ready = 0;  // the app called hyperlet::ready()
  std::uint64_t exited = 0;
  // A forked child's stats count from the fork (`started`): its pid and its parent's.
  std::uint32_t process_id = 0;
  std::uint32_t forked_from = 0;
  std::map<std::string, std::uint64_t> exits;       // by KVM exit reason
  std::map<std::string, std::uint64_t> hypercalls;  // by kind
  std::map<std::string, std::uint64_t> syscalls;    // by name
  std::map<std::string, std::uint64_t> kvm_vcpu;    // KVM's own non-zero vCPU counters
  std::uint64_t syscall_sites = 0;
  std::string syscall_sites_from;  // where the site table came from
  std::uint64_t guest_pages_touched = 0;
  // The guest kernel's memory budget (--memory) in use at the end and at most,
  // the budget itself, and the address space (--address-space).
  std::uint64_t memory_charged = 0;
  std::uint64_t memory_charged_peak = 0;
  std::uint64_t memory_budget = 0;
  std::uint64_t address_space = 0;
  std::string syscall_entry;
  // Socket buffers (devices/socket_buffers.h): work done for the app's ring-3
  // reads and writes, which the syscall counts above do not see.
  std::uint64_t deferred_writes = 0;
  std::uint64_t stashed_inputs = 0;
  // File ring (devices/file_ring.h): requests performed, by the poller, kicks.
  std::uint64_t file_ring_requests = 0;
  std::uint64_t file_ring_by_poller = 0;
  std::uint64_t file_ring_kicks = 0;
  // Time slices of the app's threads: interrupts injected, and received by the guest.
  std::uint64_t slices_injected = 0;
  std::uint64_t parked_calls = 0;  // forwarded calls parked while other threads ran
  std::uint64_t parked_woken = 0;  // of their waits, found ready by the watcher
  std::uint64_t slices_received = 0;
  // Per vCPU (--cpus above 1 only): its VM exits and time inside KVM_RUN.
  struct Vcpu {
    std::uint64_t exits = 0;
    std::uint64_t run_ns = 0;
  };
  std::vector<Vcpu> vcpus;
};

std::uint64_t monotonic_ns();
std::string format_stats(const RunStats& stats);

}  // namespace hyperlet
