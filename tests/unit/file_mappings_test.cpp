// FileMappings' shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS in the app):
// a host memfd mapped over guest pages, which a host fork shares, as the
// forked app's child process must. No KVM needed: the test process forks.
#include "memory/file_mappings.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace hyperlet {
namespace {

constexpr std::uint64_t kSize = 1 << 20;
constexpr std::uint64_t kPage = 4096;

GuestMemory make_memory() {
  auto memory = GuestMemory::create(kSize);
  EXPECT_TRUE(memory.has_value()) << memory.error().message;
  return std::move(*memory);
}

// Forks this process; the child writes `value` at `address` and ends. The
// parent's reading afterwards.
std::uint32_t value_after_a_child_wrote(GuestMemory& memory, std::uint64_t address, std::uint32_t value) {
  const pid_t child = ::fork();
  if (child == 0) {
    memory.write(address, value);
    ::_exit(0);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return memory.read<std::uint32_t>(address).value_or(0);
}

TEST(FileMappings, SharedAnonymousMemoryStartsZeroAndAForkedChildSharesIt) {
  GuestMemory memory = make_memory();
  FileMappings mappings;
  memory.write(4 * kPage, std::uint32_t{77});
  ASSERT_EQ(mappings.map_shared_anonymous(memory, 4 * kPage, 2 * kPage), 0);
  EXPECT_EQ(memory.read<std::uint32_t>(4 * kPage).value(), 0u) << "it replaces what the pages held";
  memory.write(5 * kPage, std::uint32_t{1});
  EXPECT_EQ(value_after_a_child_wrote(memory, 5 * kPage, 42), 42u);
  // Beside it, the pages stay the process's own, as private memory does.
  EXPECT_EQ(value_after_a_child_wrote(memory, 6 * kPage, 43), 0u);
  ASSERT_EQ(mappings.size(), 1u);
  EXPECT_EQ(mappings.entries()[0].name, "[shared anonymous]");
  EXPECT_TRUE(mappings.entries()[0].shared);
}

TEST(FileMappings, SharedAnonymousMemoryMovesAsItselfAndIsForgotten) {
  GuestMemory memory = make_memory();
  FileMappings mappings;
  ASSERT_EQ(mappings.map_shared_anonymous(memory, 8 * kPage, kPage), 0);
  memory.write(8 * kPage, std::uint32_t{5});
  // mremap: the same memory at the new address (a host file mapped again).
  ASSERT_EQ(mappings.move(memory, 16 * kPage, kPage, 8 * kPage), 0);
  EXPECT_EQ(memory.read<std::uint32_t>(16 * kPage).value(), 5u);
  EXPECT_EQ(value_after_a_child_wrote(memory, 16 * kPage, 9), 9u);
  EXPECT_EQ(memory.read<std::uint32_t>(8 * kPage).value(), 9u) << "both addresses map one memory until munmap";
  mappings.forget(8 * kPage, kPage);
  mappings.forget(16 * kPage, kPage);
  EXPECT_TRUE(mappings.empty());
}

TEST(FileMappings, SharedAnonymousMemoryRefusesRangesOutsideGuestMemory) {
  GuestMemory memory = make_memory();
  FileMappings mappings;
  EXPECT_EQ(mappings.map_shared_anonymous(memory, kPage, 0), -EINVAL);
  EXPECT_EQ(mappings.map_shared_anonymous(memory, kSize - kPage, 2 * kPage), -EINVAL);
  EXPECT_EQ(mappings.map_shared_anonymous(memory, kSize, kPage), -EINVAL);
  EXPECT_EQ(mappings.map_shared_anonymous(memory, ~std::uint64_t{0} - kPage + 1, kPage), -EINVAL);
  EXPECT_TRUE(mappings.empty());
}

}  // namespace
}  // namespace hyperlet
