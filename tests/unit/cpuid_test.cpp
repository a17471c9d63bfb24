#include "arch/cpuid.h"

#include <gtest/gtest.h>

#include <cstring>

namespace hyperlet {
namespace {

const std::vector<CacheInfo> kThisHost = {
    {1, CacheType::kData, 48 << 10, 12, 64},
    {1, CacheType::kInstruction, 64 << 10, 16, 64},
    {2, CacheType::kUnified, 2 << 20, 16, 64},
    {3, CacheType::kUnified, 480ull << 20, 16, 64},
};

kvm_cpuid_entry2 leaf(std::uint32_t function, std::uint32_t eax, std::uint32_t ebx = 0, std::uint32_t ecx = 0,
                      std::uint32_t edx = 0) {
  kvm_cpuid_entry2 entry{};
  entry.function = function;
  entry.eax = eax;
  entry.ebx = ebx;
  entry.ecx = ecx;
  entry.edx = edx;
  return entry;
}

kvm_cpuid_entry2 subleaf(std::uint32_t function, std::uint32_t index, std::uint32_t eax, std::uint32_t ebx,
                         std::uint32_t ecx) {
  kvm_cpuid_entry2 entry = leaf(function, eax, ebx, ecx);
  entry.index = index;
  entry.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  return entry;
}

TEST(CachesFromCpuid, ReadsLeaf4OfAnIntelTable) {
  // This machine's leaf 4: L1d 48K 12-way, L1i 64K 16-way, L2 2M 16-way, L3 480M 16-way; 64-byte lines.
  const std::vector<kvm_cpuid_entry2> table = {
      leaf(0, 36, 0x756e6547, 0x6c65746e, 0x49656e69),
      subleaf(4, 0, 0x121, 0x02c0003f, 63), subleaf(4, 1, 0x122, 0x03c0003f, 63),
      subleaf(4, 2, 0x143, 0x03c0003f, 2047), subleaf(4, 3, 0x4163, 0x03c0003f, 491519),
      subleaf(4, 4, 0, 0, 0)};
  const auto caches = caches_from_cpuid(table);
  ASSERT_EQ(caches.size(), 4u);
  EXPECT_EQ(caches[0].level, 1);
  EXPECT_EQ(caches[0].type, CacheType::kData);
  EXPECT_EQ(caches[0].size, 48u << 10);
  EXPECT_EQ(caches[0].ways, 12u);
  EXPECT_EQ(caches[0].line, 64u);
  EXPECT_EQ(caches[1].type, CacheType::kInstruction);
  EXPECT_EQ(caches[1].size, 64u << 10);
  EXPECT_EQ(caches[2].level, 2);
  EXPECT_EQ(caches[2].size, 2u << 20);
  EXPECT_EQ(caches[3].level, 3);
  EXPECT_EQ(caches[3].size, 480ull << 20);
}

TEST(CachesFromCpuid, NothingForOtherVendorsOrWithoutLeaf4) {
  const std::vector<kvm_cpuid_entry2> amd = {leaf(0, 16, 0x68747541, 0x444d4163, 0x69746e65),
                                             subleaf(4, 0, 0x121, 0x02c0003f, 63)};
  EXPECT_TRUE(caches_from_cpuid(amd).empty());
  const std::vector<kvm_cpuid_entry2> old_intel = {leaf(0, 2, 0x756e6547, 0x6c65746e, 0x49656e69)};
  EXPECT_TRUE(caches_from_cpuid(old_intel).empty());
  EXPECT_TRUE(caches_from_cpuid({}).empty());
}

TEST(CacheDescriptor, PicksTheLargestDescriptorNotLargerThanTheCache) {
  EXPECT_EQ(cache_descriptor({1, CacheType::kData, 48 << 10, 12, 64}), 0x2c);        // 32K
  EXPECT_EQ(cache_descriptor({1, CacheType::kData, 24 << 10, 6, 64}), 0x0e);         // 24K exactly
  EXPECT_EQ(cache_descriptor({1, CacheType::kInstruction, 64 << 10, 8, 64}), 0x30);  // 32K
  EXPECT_EQ(cache_descriptor({2, CacheType::kUnified, 2 << 20, 16, 64}), 0x7d);      // 2M
  EXPECT_EQ(cache_descriptor({2, CacheType::kUnified, 1280 << 10, 10, 64}), 0x7c);   // 1M
  EXPECT_EQ(cache_descriptor({3, CacheType::kUnified, 480ull << 20, 16, 64}), 0xec);  // 24M, the largest
  EXPECT_EQ(cache_descriptor({3, CacheType::kUnified, 8 << 20, 16, 64}), 0xde);
}

TEST(CacheDescriptor, NoneWhenEveryDescriptorIsLarger) {
  EXPECT_EQ(cache_descriptor({1, CacheType::kData, 8 << 10, 2, 64}), std::nullopt);
  EXPECT_EQ(cache_descriptor({2, CacheType::kUnified, 128 << 10, 8, 64}), std::nullopt);
  EXPECT_EQ(cache_descriptor({4, CacheType::kUnified, 64 << 20, 16, 64}), std::nullopt);
}

TEST(DescribeCaches, ReplacesALeaf2ThatDefersToLeaf4) {
  std::vector<kvm_cpuid_entry2> table = {leaf(0, 36), leaf(2, 0x00feff01, 0xf0), leaf(4, 0x121)};
  describe_caches_in_leaf2(table, kThisHost);
  // One round; L1d 0x2c, L1i 0x30, L2 0x7d in eax; L3 0xec in ebx.
  EXPECT_EQ(table[1].eax, 0x7d302c01u);
  EXPECT_EQ(table[1].ebx, 0xecu);
  EXPECT_EQ(table[1].ecx, 0u);
  EXPECT_EQ(table[1].edx, 0u);
  EXPECT_EQ(table[2].eax, 0x121u) << "other leaves are untouched";
}

TEST(DescribeCaches, KeepsALeaf2ThatAlreadyDescribesItsCaches) {
  std::vector<kvm_cpuid_entry2> table = {leaf(2, 0x665b5001, 0, 0, 0x007a7000)};
  describe_caches_in_leaf2(table, kThisHost);
  EXPECT_EQ(table[0].eax, 0x665b5001u);
  EXPECT_EQ(table[0].edx, 0x007a7000u);
}

TEST(DescribeCaches, IgnoresFfInAnInvalidRegister) {
  std::vector<kvm_cpuid_entry2> table = {leaf(2, 0x00000001, 0x800000ff)};
  describe_caches_in_leaf2(table, kThisHost);
  EXPECT_EQ(table[0].eax, 0x00000001u);
}

TEST(DescribeCaches, KeepsLeaf4PathWhenALevelHasNoDescriptor) {
  std::vector<kvm_cpuid_entry2> table = {leaf(2, 0x00feff01)};
  auto caches = kThisHost;
  caches[0].size = 4 << 10;  // smaller than any L1d descriptor
  describe_caches_in_leaf2(table, caches);
  EXPECT_EQ(table[0].eax, 0x00feff01u);
}

TEST(DescribeCaches, LeavesTableAloneWithoutHostCachesOrLeaf2) {
  std::vector<kvm_cpuid_entry2> table = {leaf(2, 0x00feff01)};
  describe_caches_in_leaf2(table, {});
  EXPECT_EQ(table[0].eax, 0x00feff01u);
  std::vector<kvm_cpuid_entry2> no_leaf2 = {leaf(0, 1)};
  describe_caches_in_leaf2(no_leaf2, kThisHost);
  EXPECT_EQ(no_leaf2[0].eax, 1u);
}

TEST(DescribeCaches, SkipsLevel4) {
  std::vector<kvm_cpuid_entry2> table = {leaf(2, 0x00feff01)};
  auto caches = kThisHost;
  caches.push_back({4, CacheType::kUnified, 128 << 20, 16, 64});
  describe_caches_in_leaf2(table, caches);
  EXPECT_EQ(table[0].eax, 0x7d302c01u);
  EXPECT_EQ(table[0].ebx, 0xecu);
}

// ---- XSAVE state: leaf 0xD limited to x87, SSE and AVX ----

constexpr std::uint32_t kXsaveBit = 1u << 26;
constexpr std::uint32_t kOsxsaveBit = 1u << 27;
constexpr std::uint32_t kAvxBit = 1u << 28;
constexpr std::uint32_t kAvx2Bit = 1u << 5;
constexpr std::uint32_t kAvx512fBit = 1u << 16;

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& table, std::uint32_t function,
                             std::uint32_t index = 0) {
  for (const auto& entry : table) {
    if (entry.function == function && entry.index == index) return &entry;
  }
  return nullptr;
}

// A hardware host with AVX-512 and PKRU (x87, SSE, AVX, opmask, zmm_hi256, hi16_zmm, PKRU).
std::vector<kvm_cpuid_entry2> avx512_host() {
  return {leaf(1, 0x806f8, 0, kXsaveBit | kAvxBit | 1u << 12, 0),
          subleaf(7, 0, 0, kAvx2Bit | kAvx512fBit | 1u << 31, 0),
          subleaf(0xd, 0, 0x2e7, 2696, 2696),
          subleaf(0xd, 1, 0xf, 2440, 0),
          subleaf(0xd, 2, 256, 576, 0),
          subleaf(0xd, 5, 64, 1088, 0),
          subleaf(0xd, 6, 512, 1152, 0),
          subleaf(0xd, 7, 1024, 1664, 0),
          subleaf(0xd, 9, 8, 2688, 0)};
}

TEST(LimitExtendedState, EnablesX87SseAndAvxAndMakesLeafDSayExactlyThat) {
  auto table = avx512_host();
  const ExtendedState state = limit_extended_state(table, 1024);
  EXPECT_EQ(state.xcr0, kXstateX87 | kXstateSse | kXstateAvx);
  EXPECT_EQ(state.area_size, 832u);
  const auto* xsave = find(table, 0xd);
  ASSERT_NE(xsave, nullptr);
  EXPECT_EQ(xsave->eax, 7u);
  EXPECT_EQ(xsave->edx, 0u);
  EXPECT_EQ(xsave->ebx, 832u);
  EXPECT_EQ(xsave->ecx, 832u);
  EXPECT_NE(find(table, 0xd, 1), nullptr);
  EXPECT_NE(find(table, 0xd, 2), nullptr);
  for (std::uint32_t disabled : {5u, 6u, 7u, 9u}) EXPECT_EQ(find(table, 0xd, disabled), nullptr) << disabled;
  EXPECT_EQ(find(table, 7)->ebx, kAvx2Bit) << "AVX-512 must disappear with its state, AVX2 stay";
  EXPECT_EQ(find(table, 1)->ecx & (kXsaveBit | kAvxBit | kOsxsaveBit), kXsaveBit | kAvxBit);
  const ExtendedState read_back = extended_state(table);
  EXPECT_EQ(read_back.xcr0, state.xcr0);
  EXPECT_EQ(read_back.area_size, state.area_size);
}

TEST(LimitExtendedState, LeavesATableWithoutXsaveAsItIs) {
  // kvm_pvm: no XSAVE, no AVX, no leaf 0xD.
  std::vector<kvm_cpuid_entry2> table = {leaf(0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69), leaf(1, 0x806f8, 0, 0, 0),
                                         subleaf(7, 0, 0, 0, 0)};
  const auto before = table;
  const ExtendedState state = limit_extended_state(table, 1024);
  EXPECT_EQ(state.xcr0, 0u);
  ASSERT_EQ(table.size(), before.size());
  EXPECT_EQ(std::memcmp(table.data(), before.data(), table.size() * sizeof(kvm_cpuid_entry2)), 0);
  EXPECT_EQ(extended_state(table).xcr0, 0u);
}

TEST(LimitExtendedState, AvxThatDoesNotFitIsHidden) {
  auto table = avx512_host();
  const ExtendedState state = limit_extended_state(table, 600);
  EXPECT_EQ(state.xcr0, kXstateX87 | kXstateSse);
  EXPECT_EQ(state.area_size, 576u);
  EXPECT_EQ(find(table, 0xd, 2), nullptr);
  EXPECT_EQ(find(table, 1)->ecx & kAvxBit, 0u);
  EXPECT_EQ(find(table, 7)->ebx & kAvx2Bit, 0u);
}

}  // namespace
}  // namespace hyperlet
