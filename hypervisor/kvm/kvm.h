// Thin RAII wrappers over /dev/kvm, a VM and a vCPU (linux/kvm.h).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/error.h"
#include "core/mapping.h"
#include "core/unique_fd.h"

namespace hyperlet {

// KVM_GET_XSAVE's buffer: the guest's XSAVE area in the standard (non-compacted)
// format, offsets as in CPUID leaf 0xD. linux/kvm.h's kvm_xsave ends in a
// flexible array whose C++ sizeof differs from C's 4096; this is the C layout.
struct XsaveArea {
  std::array<std::uint32_t, 1024> region;
};

class KvmSystem {
 public:
  static Result<KvmSystem> open();
  int fd() const { return fd_.get(); }
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }

 private:
  UniqueFd fd_;
  int vcpu_mmap_size_ = 0;
};

class Vcpu {
 public:
  int fd() const { return fd_.get(); }
  kvm_run* run() const { return reinterpret_cast<kvm_run*>(run_.data()); }

  // Hands KVM these registers through kvm_run's sync area, applied as the next
  // KVM_RUN enters the guest: three ioctls saved (each ~10 µs on kvm_pvm).
  // False, and nothing staged, where KVM lacks KVM_CAP_SYNC_REGS for them.
  bool stage_registers(const kvm_regs& regs, const kvm_sregs& sregs, const kvm_vcpu_events& events);
  // Whether KVM hands the general registers over in kvm_run's sync area.
  bool syncs_registers() const { return (sync_registers_ & KVM_SYNC_X86_REGS) != 0; }

  Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  Result<void> set_msrs(const std::vector<kvm_msr_entry>& entries);
  // The values of these MSRs (index filled in, data read).
  Result<std::vector<kvm_msr_entry>> msrs(const std::vector<std::uint32_t>& indices) const;
  Result<kvm_fpu> fpu() const;
  Result<void> set_fpu(const kvm_fpu& fpu);
  // The extended state (XSAVE area) and XCR0; only for a vCPU whose CPUID has XSAVE.
  Result<XsaveArea> xsave() const;
  Result<void> set_xsave(const XsaveArea& area);
  Result<kvm_xcrs> xcrs() const;
  Result<void> set_xcrs(const kvm_xcrs& xcrs);
  // Sets XCR0 alone.
  Result<void> set_xcr0(std::uint64_t value);
  Result<kvm_vcpu_events> events() const;
  Result<void> set_events(const kvm_vcpu_events& events);
  Result<kvm_regs> regs() const;
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> sregs() const;
  Result<void> set_sregs(const kvm_sregs& sregs);

 private:
  friend class VmFd;
  UniqueFd fd_;
  Mapping run_;
  int sync_registers_ = 0;  // KVM_CAP_SYNC_REGS's answer
};

class VmFd {
 public:
  static Result<VmFd> create(const KvmSystem& kvm);
  int fd() const { return fd_.get(); }
  // `log_dirty_pages`: KVM records every page the guest writes (dirty_pages()),
  // for resetting a VM to its snapshot.
  Result<void> map_memory(std::uint64_t guest_address, void* host_address, std::uint64_t size,
                          bool log_dirty_pages = false);
  // The pages of the memory mapped at guest address 0 that the guest wrote since
  // they were last write-protected (bit i = page i). `size`: its size. Without
  // manual protection (below) every call write-protects them all again.
  Result<std::vector<std::uint64_t>> dirty_pages(std::uint64_t size);
  // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: dirty_pages() leaves the pages writable
  // and their bits set until protect_pages() names them. False where KVM lacks
  // it (then dirty_pages() protects, as before). Call before map_memory().
  bool enable_manual_dirty_protection();
  // Write-protects `pages` (bit i = page i) and clears their dirty bits, so the
  // guest's next write to each is recorded again. `size`: the memory's size.
  Result<void> protect_pages(std::span<const std::uint64_t> pages, std::uint64_t size);
  Result<Vcpu> create_vcpu(const KvmSystem& kvm, unsigned id = 0);
  // kvmclock's current value (ns since the VM was created).
  Result<std::uint64_t> clock() const;
  // Sets kvmclock so that it reads `nanoseconds` now (a restored VM's clock goes on).
  Result<void> set_clock(std::uint64_t nanoseconds);

 private:
  UniqueFd fd_;
};

}  // namespace hyperlet
