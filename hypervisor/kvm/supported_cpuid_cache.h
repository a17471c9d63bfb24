// KVM_GET_SUPPORTED_CPUID, remembered per boot. When hyperlet itself runs in a
// VM, KVM executes one cpuid per leaf to answer it and each is an exit: 0.35 ms
// of every boot here, for a table that only changes when the host reboots, the
// KVM module is reloaded or the CPU's microcode changes. The cache key covers
// all three (boot id, the identity of /sys/module/kvm*, the microcode revision),
// so a stale table is never used.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include <linux/kvm.h>

#include "core/error.h"
#include "kvm/kvm.h"

namespace hyperlet {

// The key for this host as it is now; nullopt if it cannot be determined (then
// nothing is cached).
std::optional<std::string> supported_cpuid_key();

// The entries stored in `path` under exactly `key`; nullopt when the file is
// missing, holds another key, or is malformed.
std::optional<std::vector<kvm_cpuid_entry2>> load_cached_cpuid(const std::filesystem::path& path,
                                                               const std::string& key);
// Writes `path` atomically (temporary file, then rename); failures only mean no cache.
void store_cached_cpuid(const std::filesystem::path& path, const std::string& key,
                        const std::vector<kvm_cpuid_entry2>& entries);

// From `directory`'s entry for `key` if it holds one, else from KVM (and stored).
Result<std::vector<kvm_cpuid_entry2>> supported_cpuid_cached(
    const KvmSystem& kvm, const std::optional<std::filesystem::path>& directory,
    const std::optional<std::string>& key);

}  // namespace hyperlet
