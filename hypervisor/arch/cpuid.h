// The CPUID table the guest sees: KVM's supported CPUID, passed through, with
// cache descriptors in leaf 2.
//
// Why leaf 2: on Intel, leaf 2 usually says "0xff: see leaf 4", and static glibc
// then walks leaf 4 once per cache property it wants (12 properties at startup),
// 49 cpuid executions for a C++ hello. Every cpuid exits to KVM (~26 us on
// kvm_pvm, ~1 us on hardware). Concrete descriptors answer glibc from leaf 2 alone.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace hyperlet {

enum class CacheType : std::uint8_t { kData = 1, kInstruction = 2, kUnified = 3 };

struct CacheInfo {
  std::uint8_t level;
  CacheType type;
  std::uint64_t size;  // bytes
  std::uint32_t ways;
  std::uint32_t line;  // bytes
};

// The caches CPUID leaf 4 (deterministic cache parameters) describes in KVM's
// supported table (the host's own values); empty unless the vendor is Intel.
// Read from the table rather than by executing cpuid: each cpuid is an exit
// when hyperlet itself runs in a VM (~7 us here).
std::vector<CacheInfo> caches_from_cpuid(const std::vector<kvm_cpuid_entry2>& cpuid);

// The leaf-2 descriptor (as glibc's table knows it) for the largest cache of
// this level and type that is not larger than `cache`; nullopt if none fits.
std::optional<std::uint8_t> cache_descriptor(const CacheInfo& cache);

// Rewrites leaf 2 of `cpuid` when it defers to leaf 4 and every cache level has
// a descriptor; otherwise leaves the table as it is.
void describe_caches_in_leaf2(std::vector<kvm_cpuid_entry2>& cpuid, const std::vector<CacheInfo>& caches);

}  // namespace hyperlet
