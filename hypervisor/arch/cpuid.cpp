#include "arch/cpuid.h"

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

}  // namespace

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

}  // namespace hyperlet
