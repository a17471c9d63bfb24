#include "kvm/supported_cpuid_cache.h"

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace hyperlet {
namespace {

class CpuidCacheTest : public ::testing::Test {
 protected:
  CpuidCacheTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "hyperlet-cpuid-XXXXXX").string();
    directory_ = ::mkdtemp(pattern.data());
  }
  ~CpuidCacheTest() override { std::filesystem::remove_all(directory_); }

  static std::vector<kvm_cpuid_entry2> table() {
    kvm_cpuid_entry2 first{};
    first.function = 0;
    first.eax = 36;
    kvm_cpuid_entry2 second{};
    second.function = 4;
    second.index = 1;
    second.ebx = 0x03c0003f;
    return {first, second};
  }

  std::filesystem::path directory_;
};

TEST_F(CpuidCacheTest, RoundTripsUnderItsKey) {
  const auto path = directory_ / "nested" / "cpuid.bin";
  store_cached_cpuid(path, "boot A", table());
  const auto loaded = load_cached_cpuid(path, "boot A");
  ASSERT_TRUE(loaded.has_value());
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].eax, 36u);
  EXPECT_EQ((*loaded)[1].function, 4u);
  EXPECT_EQ((*loaded)[1].index, 1u);
  EXPECT_EQ((*loaded)[1].ebx, 0x03c0003fu);
}

TEST_F(CpuidCacheTest, AnotherKeyMissingFileOrDamagedFileIsAMiss) {
  const auto path = directory_ / "cpuid.bin";
  EXPECT_FALSE(load_cached_cpuid(path, "boot A").has_value());
  store_cached_cpuid(path, "boot A", table());
  EXPECT_FALSE(load_cached_cpuid(path, "boot B").has_value()) << "a reboot or module reload changes the key";
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  EXPECT_FALSE(load_cached_cpuid(path, "boot A").has_value()) << "a truncated table is not used";
  std::ofstream(path, std::ios::trunc) << "boot A\n";
  EXPECT_FALSE(load_cached_cpuid(path, "boot A").has_value()) << "an empty table is not used";
}

TEST(SupportedCpuidKey, NamesTheBootAndTheKvmModules) {
  if (::access("/sys/module/kvm", F_OK) != 0) GTEST_SKIP() << "no kvm module on this host";
  const auto key = supported_cpuid_key();
  ASSERT_TRUE(key.has_value());
  EXPECT_NE(key->find(" boot "), std::string::npos);
  EXPECT_NE(key->find("/sys/module/kvm "), std::string::npos);
  EXPECT_EQ(supported_cpuid_key(), key) << "stable while nothing changes";
}

}  // namespace
}  // namespace hyperlet
