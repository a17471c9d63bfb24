// Does a ring-3 `syscall` reach ring 0 on this KVM? On hardware KVM it enters
// the guest kernel through LSTAR; on kvm_pvm (and possibly other nested,
// page-table-based hypervisors) it jumps to LSTAR *without* entering ring 0.
// Asking KVM, not /sys/module, makes `--syscall-entry auto` right in a
// container that hides /sys/module and on any hypervisor: a tiny VM (64 KiB,
// one vCPU) drops to ring 3 and runs `syscall`; its LSTAR handler reports its
// own CS with an `out`. The answer is cached per boot and KVM module load
// (kvm/supported_cpuid_cache.h's key): a probe costs a VM, ~1-2 ms here.
#pragma once

#include <linux/kvm.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kvm/kvm.h"
#include "vm/run_options.h"

namespace hyperlet {

// kSyscall when a ring-3 `syscall` reached the LSTAR handler in ring 0, kTrap
// when it arrived anywhere else; nullopt when the probe could not finish (KVM
// refused a step, a signal interrupted it): the caller then takes the trap,
// which works everywhere.
std::optional<SyscallEntry> probe_syscall_entry(const KvmSystem& kvm, const std::vector<kvm_cpuid_entry2>& cpuid);

// The cache: one file per key (`syscall-entry-<hash>`), its first line the
// key, its second `syscall` or `trap`.
std::optional<SyscallEntry> load_cached_syscall_entry(const std::filesystem::path& path, const std::string& key);
void store_cached_syscall_entry(const std::filesystem::path& path, const std::string& key, SyscallEntry entry);
std::filesystem::path syscall_entry_cache_path(const std::filesystem::path& directory, const std::string& key);

// `requested` unless it is kAuto; then the cached answer for `key` in
// `directory`, else a probe (stored when it finished and both are known).
SyscallEntry resolve_syscall_entry(SyscallEntry requested, const KvmSystem& kvm,
                                   const std::vector<kvm_cpuid_entry2>& cpuid,
                                   const std::optional<std::filesystem::path>& directory,
                                   const std::optional<std::string>& key);

}  // namespace hyperlet
