// Thin RAII wrappers over /dev/kvm, a VM and a vCPU (linux/kvm.h).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/mapping.h"
#include "core/unique_fd.h"

namespace hyperlet {

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

  Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  Result<void> set_msrs(const std::vector<kvm_msr_entry>& entries);
  Result<kvm_regs> regs() const;
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> sregs() const;
  Result<void> set_sregs(const kvm_sregs& sregs);

 private:
  friend class VmFd;
  UniqueFd fd_;
  Mapping run_;
};

class VmFd {
 public:
  static Result<VmFd> create(const KvmSystem& kvm);
  int fd() const { return fd_.get(); }
  Result<void> map_memory(std::uint64_t guest_address, void* host_address, std::uint64_t size);
  Result<Vcpu> create_vcpu(const KvmSystem& kvm);
  // kvmclock's current value (ns since the VM was created).
  Result<std::uint64_t> clock() const;

 private:
  UniqueFd fd_;
};

}  // namespace hyperlet
