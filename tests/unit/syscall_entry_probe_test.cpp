// The syscall-entry cache (what `--syscall-entry auto` remembers per boot):
// its file format and key handling. The probe itself needs KVM and is covered
// by the integration suites, here (kvm_pvm: trap) and under QEMU (scripts/test-hw-kvm: syscall).
#include "vm/syscall_entry_probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace hyperlet {
namespace {

class SyscallEntryCacheTest : public ::testing::Test {
 protected:
  SyscallEntryCacheTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "hyperlet-entry-XXXXXX").string();
    directory_ = ::mkdtemp(pattern.data());
  }
  ~SyscallEntryCacheTest() override { std::filesystem::remove_all(directory_); }
  void write(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

  std::filesystem::path directory_;
};

TEST_F(SyscallEntryCacheTest, RoundTripsBothAnswersUnderTheirKey) {
  const auto path = directory_ / "nested" / "entry";
  store_cached_syscall_entry(path, "boot A", SyscallEntry::kSyscall);
  EXPECT_EQ(load_cached_syscall_entry(path, "boot A"), SyscallEntry::kSyscall);
  store_cached_syscall_entry(path, "boot A", SyscallEntry::kTrap);
  EXPECT_EQ(load_cached_syscall_entry(path, "boot A"), SyscallEntry::kTrap);
}

TEST_F(SyscallEntryCacheTest, TheFileIsTheKeyLineThenTheAnswer) {
  const auto path = directory_ / "entry";
  store_cached_syscall_entry(path, "syscall-entry v1 boot 1234", SyscallEntry::kTrap);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "syscall-entry v1 boot 1234\ntrap\n");
  EXPECT_FALSE(std::filesystem::exists(path.string() + "." + std::to_string(::getpid()) + ".tmp"));
}

TEST_F(SyscallEntryCacheTest, AnotherKeyMissingFileOrDamagedFileIsAMiss) {
  const auto path = directory_ / "entry";
  EXPECT_FALSE(load_cached_syscall_entry(path, "boot A").has_value());
  store_cached_syscall_entry(path, "boot A", SyscallEntry::kSyscall);
  EXPECT_FALSE(load_cached_syscall_entry(path, "boot B").has_value()) << "a reboot or module reload changes the key";
  write(path, "boot A\n");
  EXPECT_FALSE(load_cached_syscall_entry(path, "boot A").has_value()) << "no answer";
  write(path, "boot A\nsysc");
  EXPECT_FALSE(load_cached_syscall_entry(path, "boot A").has_value()) << "a torn answer";
  write(path, "boot A\nauto\n");
  EXPECT_FALSE(load_cached_syscall_entry(path, "boot A").has_value()) << "auto is never an answer";
  write(path, "boot A\ntrap\nsyscall\n");
  EXPECT_FALSE(load_cached_syscall_entry(path, "boot A").has_value()) << "trailing lines";
}

TEST_F(SyscallEntryCacheTest, AutoIsNeverStored) {
  const auto path = directory_ / "entry";
  store_cached_syscall_entry(path, "boot A", SyscallEntry::kAuto);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(SyscallEntryCacheTest, EachKeyHasItsOwnFileInTheDirectory) {
  const auto first = syscall_entry_cache_path(directory_, "boot A");
  const auto second = syscall_entry_cache_path(directory_, "boot B");
  EXPECT_NE(first, second);
  EXPECT_EQ(first.parent_path(), directory_);
  EXPECT_TRUE(first.filename().string().starts_with("syscall-entry-"));
  EXPECT_EQ(first, syscall_entry_cache_path(directory_, "boot A")) << "stable for one key";
}

}  // namespace
}  // namespace hyperlet
