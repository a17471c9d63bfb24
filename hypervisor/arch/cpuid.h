// The CPUID table the guest sees: KVM's supported CPUID, passed through, with
// cache descriptors in leaf 2 and leaf 0xD (XSAVE) limited to the state the
// guest kernel enables and saves.
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

// XSAVE state components: bits of XCR0.
inline constexpr std::uint64_t kXstateX87 = 1u << 0;
inline constexpr std::uint64_t kXstateSse = 1u << 1;
inline constexpr std::uint64_t kXstateAvx = 1u << 2;

// The XSAVE state the guest runs with.
struct ExtendedState {
  std::uint64_t xcr0 = 0;       // 0: no XSAVE, CR4.OSXSAVE stays clear (fxsave only)
  std::uint32_t area_size = 0;  // bytes of a standard-format XSAVE area holding xcr0's state
};

// Limits the XSAVE state in `cpuid` to x87, SSE and AVX, the state the guest
// kernel saves at thread switches in an area of at most `max_area_size` bytes
// (and that the tests exercise), where KVM's supported CPUID offers XSAVE
// (hardware KVM; kvm_pvm offers none, and its table is left as it is). Leaf
// 0xD then reports exactly those components and their sizes; features whose
// state stays disabled (AVX-512, AMX, MPX; AVX itself when it does not fit)
// disappear from leaves 1 and 7, so that an app that trusts CPUID without
// asking XGETBV does not fault. Returns what the table now enables.
ExtendedState limit_extended_state(std::vector<kvm_cpuid_entry2>& cpuid, std::uint32_t max_area_size);

// The XSAVE state a table (as limit_extended_state left it) enables: what
// CR4.OSXSAVE and XCR0 are set to.
ExtendedState extended_state(const std::vector<kvm_cpuid_entry2>& cpuid);

// The state this host process's XCR0 enables (x87 and SSE, and each further user
// component whose standard-format area ends within `max_area_size`), as a guest's
// ring 3 sees it where KVM does not switch XCR0 (kvm_pvm); nothing when the host
// has no OSXSAVE or enables nothing beyond x87 and SSE.
std::optional<ExtendedState> host_extended_state(std::uint32_t max_area_size);

}  // namespace hyperlet
