#include "arch/cpuid.h"

#include <cpuid.h>

#include <algorithm>
#include <array>

namespace hyperlet {
namespace {

struct Descriptor {
  std::uint8_t code;
  std::uint8_t level;
  CacheType type;
  std::uint64_t size;
  std::uint32_t ways;
};

// A subset of Intel's leaf-2 descriptors (SDM vol. 2, table 3-12), all with
// 64-byte lines, every one present in glibc's intel_02_known table. 0x49 is
// left out: glibc reads it as L3 on one CPU family.
constexpr std::array kDescriptors = {
    Descriptor{0x0d, 1, CacheType::kData, 16 << 10, 4},
    Descriptor{0x0e, 1, CacheType::kData, 24 << 10, 6},
    Descriptor{0x2c, 1, CacheType::kData, 32 << 10, 8},
    Descriptor{0x30, 1, CacheType::kInstruction, 32 << 10, 8},
    Descriptor{0x7a, 2, CacheType::kUnified, 256 << 10, 8},
    Descriptor{0x7b, 2, CacheType::kUnified, 512 << 10, 8},
    Descriptor{0x7c, 2, CacheType::kUnified, 1 << 20, 8},
    Descriptor{0x7d, 2, CacheType::kUnified, 2 << 20, 8},
    Descriptor{0x48, 2, CacheType::kUnified, 3 << 20, 12},
    Descriptor{0x4e, 2, CacheType::kUnified, 6 << 20, 24},
    Descriptor{0xd0, 3, CacheType::kUnified, 512 << 10, 4},
    Descriptor{0xd1, 3, CacheType::kUnified, 1 << 20, 4},
    Descriptor{0xd2, 3, CacheType::kUnified, 2 << 20, 4},
    Descriptor{0xd8, 3, CacheType::kUnified, 4 << 20, 8},
    Descriptor{0xde, 3, CacheType::kUnified, 8 << 20, 12},
    Descriptor{0x4c, 3, CacheType::kUnified, 12 << 20, 12},
    Descriptor{0x4d, 3, CacheType::kUnified, 16 << 20, 16},
    Descriptor{0xeb, 3, CacheType::kUnified, 18 << 20, 24},
    Descriptor{0xec, 3, CacheType::kUnified, 24 << 20, 24},
};

constexpr std::uint32_t kLeafDefersToLeaf4 = 0xff;
constexpr std::uint32_t kRegisterInvalid = 1u << 31;

bool defers_to_leaf4(const kvm_cpuid_entry2& entry) {
  for (std::uint32_t reg : {entry.eax & ~0xffu, entry.ebx, entry.ecx, entry.edx}) {
    if ((reg & kRegisterInvalid) != 0) continue;
    for (int shift = 0; shift < 32; shift += 8) {
      if ((reg >> shift & 0xff) == kLeafDefersToLeaf4) return true;
    }
  }
  return false;
}

constexpr std::uint32_t kLeafFeatures = 1;
constexpr std::uint32_t kLeafExtendedFeatures = 7;
constexpr std::uint32_t kLeafXsave = 0xd;
constexpr std::uint32_t kLeaf1EcxFma = 1u << 12;
constexpr std::uint32_t kLeaf1EcxXsave = 1u << 26;
constexpr std::uint32_t kLeaf1EcxOsxsave = 1u << 27;
constexpr std::uint32_t kLeaf1EcxAvx = 1u << 28;
constexpr std::uint32_t kLeaf1EcxF16c = 1u << 29;
constexpr std::uint32_t kLeaf7EbxAvx2 = 1u << 5;
// Leaf 7 features whose state lives in XSAVE components hyperlet never enables:
// MPX (bounds registers), AVX-512 (opmask and zmm), AMX (tiles).
constexpr std::uint32_t kLeaf7EbxMpxAndAvx512 =
    1u << 14 | 1u << 16 | 1u << 17 | 1u << 21 | 1u << 26 | 1u << 27 | 1u << 28 | 1u << 30 | 1u << 31;
constexpr std::uint32_t kLeaf7EcxAvx512 = 1u << 1 | 1u << 6 | 1u << 11 | 1u << 12 | 1u << 14;
constexpr std::uint32_t kLeaf7EdxAvx512AndAmx = 1u << 2 | 1u << 3 | 1u << 8 | 1u << 22 | 1u << 23 | 1u << 24 | 1u << 25;
constexpr std::uint32_t kLeaf7Subleaf1EaxAvx512Bf16 = 1u << 5;
// The legacy (fxsave) region and the XSAVE header: where the first extended component may start.
constexpr std::uint32_t kXsaveLegacyAndHeaderSize = 512 + 64;

// The entry for (function, index): a pointer into `cpuid` (const or not), or nullptr.
template <typename Table>
auto* find_leaf(Table& cpuid, std::uint32_t function, std::uint32_t index) {
  auto it = std::find_if(cpuid.begin(), cpuid.end(),
                         [&](const kvm_cpuid_entry2& e) { return e.function == function && e.index == index; });
  return it == cpuid.end() ? nullptr : &*it;
}

// Hides the features whose state `xcr0` leaves disabled.
void hide_features_without_state(std::vector<kvm_cpuid_entry2>& cpuid, std::uint64_t xcr0) {
  if (kvm_cpuid_entry2* leaf7 = find_leaf(cpuid, kLeafExtendedFeatures, 0)) {
    leaf7->ebx &= ~kLeaf7EbxMpxAndAvx512;
    leaf7->ecx &= ~kLeaf7EcxAvx512;
    leaf7->edx &= ~kLeaf7EdxAvx512AndAmx;
    if ((xcr0 & kXstateAvx) == 0) leaf7->ebx &= ~kLeaf7EbxAvx2;
  }
  if (kvm_cpuid_entry2* leaf7_1 = find_leaf(cpuid, kLeafExtendedFeatures, 1)) {
    leaf7_1->eax &= ~kLeaf7Subleaf1EaxAvx512Bf16;
  }
  if (kvm_cpuid_entry2* leaf1 = find_leaf(cpuid, kLeafFeatures, 0); leaf1 != nullptr && (xcr0 & kXstateAvx) == 0) {
    leaf1->ecx &= ~(kLeaf1EcxAvx | kLeaf1EcxFma | kLeaf1EcxF16c);
  }
}

}  // namespace

ExtendedState limit_extended_state(std::vector<kvm_cpuid_entry2>& cpuid, std::uint32_t max_area_size) {
  kvm_cpuid_entry2* leaf1 = find_leaf(cpuid, kLeafFeatures, 0);
  kvm_cpuid_entry2* xsave = find_leaf(cpuid, kLeafXsave, 0);
  const std::uint64_t offered = xsave == nullptr ? 0 : (static_cast<std::uint64_t>(xsave->edx) << 32 | xsave->eax);
  if (leaf1 == nullptr || (leaf1->ecx & kLeaf1EcxXsave) == 0 || xsave == nullptr ||
      (offered & (kXstateX87 | kXstateSse)) != (kXstateX87 | kXstateSse) || max_area_size < kXsaveLegacyAndHeaderSize) {
    hide_features_without_state(cpuid, 0);
    return {};
  }
  ExtendedState state{kXstateX87 | kXstateSse, kXsaveLegacyAndHeaderSize};
  const kvm_cpuid_entry2* avx = find_leaf(cpuid, kLeafXsave, 2);
  if ((offered & kXstateAvx) != 0 && (leaf1->ecx & kLeaf1EcxAvx) != 0 && avx != nullptr && avx->eax != 0 &&
      avx->ebx >= kXsaveLegacyAndHeaderSize && avx->ebx + avx->eax <= max_area_size) {
    state.xcr0 |= kXstateAvx;
    state.area_size = std::max(state.area_size, avx->ebx + avx->eax);
  }
  // Sub-leaf 0: the user components XCR0 may hold and the area's size, with
  // them enabled (ebx, which KVM recomputes from XCR0 anyway) and at most (ecx).
  xsave->eax = static_cast<std::uint32_t>(state.xcr0);
  xsave->edx = static_cast<std::uint32_t>(state.xcr0 >> 32);
  xsave->ebx = state.area_size;
  xsave->ecx = state.area_size;
  // Sub-leaves 2-63 describe one component each: drop the user components left disabled.
  std::erase_if(cpuid, [&](const kvm_cpuid_entry2& e) {
    return e.function == kLeafXsave && e.index >= 2 && e.index < 64 && (offered >> e.index & 1) != 0 &&
           (state.xcr0 >> e.index & 1) == 0;
  });
  leaf1 = find_leaf(cpuid, kLeafFeatures, 0);
  leaf1->ecx &= ~kLeaf1EcxOsxsave;  // KVM reflects CR4.OSXSAVE here
  hide_features_without_state(cpuid, state.xcr0);
  return state;
}

ExtendedState extended_state(const std::vector<kvm_cpuid_entry2>& cpuid) {
  const kvm_cpuid_entry2* leaf1 = find_leaf(cpuid, kLeafFeatures, 0);
  const kvm_cpuid_entry2* xsave = find_leaf(cpuid, kLeafXsave, 0);
  if (leaf1 == nullptr || (leaf1->ecx & kLeaf1EcxXsave) == 0 || xsave == nullptr) return {};
  const std::uint64_t xcr0 = static_cast<std::uint64_t>(xsave->edx) << 32 | xsave->eax;
  if ((xcr0 & (kXstateX87 | kXstateSse)) != (kXstateX87 | kXstateSse)) return {};
  return ExtendedState{xcr0, xsave->ebx};
}

std::vector<CacheInfo> caches_from_cpuid(const std::vector<kvm_cpuid_entry2>& cpuid) {
  std::vector<CacheInfo> caches;
  auto leaf = [&](std::uint32_t function, std::uint32_t index) -> const kvm_cpuid_entry2* {
    auto it = std::find_if(cpuid.begin(), cpuid.end(), [&](const kvm_cpuid_entry2& e) {
      return e.function == function && e.index == index;
    });
    return it == cpuid.end() ? nullptr : &*it;
  };
  const kvm_cpuid_entry2* vendor = leaf(0, 0);
  // "GenuineIntel" in ebx, edx, ecx.
  if (vendor == nullptr || vendor->eax < 4 || vendor->ebx != 0x756e6547 || vendor->edx != 0x49656e69 ||
      vendor->ecx != 0x6c65746e) {
    return caches;
  }
  for (std::uint32_t index = 0; index < 16; ++index) {
    const kvm_cpuid_entry2* entry = leaf(4, index);
    if (entry == nullptr || (entry->eax & 0x1f) == 0) break;
    const std::uint32_t ways = (entry->ebx >> 22 & 0x3ff) + 1;
    const std::uint32_t partitions = (entry->ebx >> 12 & 0x3ff) + 1;
    const std::uint32_t line = (entry->ebx & 0xfff) + 1;
    const std::uint64_t sets = std::uint64_t{entry->ecx} + 1;
    caches.push_back(CacheInfo{static_cast<std::uint8_t>(entry->eax >> 5 & 7),
                               static_cast<CacheType>(entry->eax & 0x1f), ways * partitions * line * sets,
                               ways, line});
  }
  return caches;
}

std::optional<std::uint8_t> cache_descriptor(const CacheInfo& cache) {
  std::optional<std::uint8_t> best;
  std::uint64_t best_size = 0;
  for (const Descriptor& descriptor : kDescriptors) {
    if (descriptor.level != cache.level || descriptor.type != cache.type) continue;
    if (descriptor.size > cache.size || descriptor.size <= best_size) continue;
    best = descriptor.code;
    best_size = descriptor.size;
  }
  return best;
}

void describe_caches_in_leaf2(std::vector<kvm_cpuid_entry2>& cpuid, const std::vector<CacheInfo>& caches) {
  auto leaf2 = std::find_if(cpuid.begin(), cpuid.end(), [](const auto& e) { return e.function == 2; });
  if (leaf2 == cpuid.end() || !defers_to_leaf4(*leaf2) || caches.empty()) return;
  std::vector<std::uint8_t> codes;
  for (const CacheInfo& cache : caches) {
    if (cache.level > 3) continue;  // glibc asks for L4 too; no descriptor means "none"
    auto code = cache_descriptor(cache);
    if (!code) return;  // one level we cannot describe: keep the exact leaf 4 path
    codes.push_back(*code);
  }
  if (codes.size() > 7) return;
  // One round (low byte of eax = 1), then up to three descriptors in eax and four in ebx.
  std::array<std::uint8_t, 8> bytes{};
  bytes[0] = 1;
  std::copy(codes.begin(), codes.end(), bytes.begin() + 1);
  leaf2->eax = bytes[0] | bytes[1] << 8 | bytes[2] << 16 | static_cast<std::uint32_t>(bytes[3]) << 24;
  leaf2->ebx = bytes[4] | bytes[5] << 8 | bytes[6] << 16 | static_cast<std::uint32_t>(bytes[7]) << 24;
  leaf2->ecx = 0;
  leaf2->edx = 0;
}

std::optional<ExtendedState> host_extended_state(std::uint32_t max_area_size) {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(kLeafFeatures, 0, &eax, &ebx, &ecx, &edx) == 0 || (ecx & kLeaf1EcxOsxsave) == 0) {
    return std::nullopt;
  }
  std::uint32_t low = 0, high = 0;
  asm volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  const std::uint64_t xcr0 = static_cast<std::uint64_t>(high) << 32 | low;
  ExtendedState state{kXstateX87 | kXstateSse, kXsaveLegacyAndHeaderSize};
  for (unsigned component = 2; component < 64; ++component) {
    if ((xcr0 >> component & 1) == 0) continue;
    __cpuid_count(kLeafXsave, component, eax, ebx, ecx, edx);  // eax: size, ebx: offset
    if (eax == 0 || ebx < kXsaveLegacyAndHeaderSize || ebx + eax > max_area_size) continue;
    state.xcr0 |= std::uint64_t{1} << component;
    state.area_size = std::max(state.area_size, ebx + eax);
  }
  if (state.xcr0 == (kXstateX87 | kXstateSse)) return std::nullopt;
  return state;
}

}  // namespace hyperlet
