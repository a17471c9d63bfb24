// The guests `hyperlet bench` brings along, so that it needs no file besides
// hyperlet itself: the raw KVM guest of the floor and of the exit round trips
// (real mode; long mode in ring 0 and in ring 3), and the tiny static ELF that `bench hypercall` runs in
// a microVM.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.h"
#include "core/mapping.h"
#include "core/unique_fd.h"
#include "kvm/kvm.h"

namespace hyperlet::bench {

// The port the raw guest writes to, and the byte it writes.
inline constexpr std::uint16_t kRawGuestPort = 0x10;
inline constexpr std::uint8_t kRawGuestValue = 42;

// A VM of its own with one vCPU that runs a few bytes of code: in real mode as
// bench/kvm_floor.c does, in 64-bit long mode with paging in ring 0 (as
// hyperlet's guest kernel runs when it makes a hypercall), or the same in ring 3
// with IOPL 3 (as the app runs when it makes a syscall: the floor for any call
// the app makes to the host).
class RawKvmGuest {
 public:
  enum class Mode { kRealMode, kLongMode, kLongModeRing3 };
  // `out %al, $0x10; hlt`: one exit, the floor.
  static std::span<const std::uint8_t> floor_code();
  // `1: out %al, $0x10; jmp 1b`: an exit on every KVM_RUN, forever (the same
  // bytes in both modes).
  static std::span<const std::uint8_t> exit_loop_code();

  static Result<RawKvmGuest> create(std::span<const std::uint8_t> code, Mode mode);
  // KVM_RUN until the next exit, which must be the guest's byte to kRawGuestPort.
  Result<void> run_to_port_write();

 private:
  RawKvmGuest() = default;
  Result<void> enter_long_mode(bool ring3);
  Mapping memory_;  // declared first: unmapped after the VM is gone
  KvmSystem kvm_;
  VmFd vm_;
  Vcpu vcpu_;
};

// The whole floor in this process: open /dev/kvm, create the VM and vCPU, run
// to the first exit, check it, tear down (what `hyperlet bench kvm-floor` does).
Result<void> run_kvm_floor_once();

// Bytes of the static x86-64 ELF that `bench hypercall` runs: it reads
// CLOCK_MONOTONIC, makes `calls` getppid (answered in the guest kernel), reads
// the clock, makes `calls` fcntl(1, F_GETFD) whose site the loader rewrites into
// the trap (forwarded by the guest kernel), reads the clock, makes `calls` more
// from a site it rewrites into a direct syscall (abi.h: to the host from ring 3),
// reads the clock, writes the four timespecs (64 bytes) to stdout and exits 0.
// The same file runs natively.
std::vector<std::uint8_t> hypercall_guest_elf(std::uint32_t calls);

// The guest's 64 bytes as per-call nanoseconds.
struct HypercallGuestTimes {
  double guest_answered_ns = 0;  // getppid
  double forwarded_ns = 0;       // fcntl through the guest kernel (the trap)
  double direct_ns = 0;          // fcntl from a direct syscall site (the trap where sites are not rewritten)
};
Result<HypercallGuestTimes> parse_hypercall_guest_output(std::span<const std::uint8_t> output, std::uint32_t calls);

}  // namespace hyperlet::bench
