#include "vm/vfork_handoff.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "memory/guest_memory.h"

namespace hyperlet {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kSize = 16 << 20;
// As in a VM: the guest kernel's area below, the app's memory above.
constexpr GuestRange kApp{0x200000, 0xe00000};
constexpr std::uint64_t kWritten = 0x300000;     // the parent wrote it; the child changes it
constexpr std::uint64_t kZeroed = 0x301000;      // the parent wrote it; the child zeroes it
constexpr std::uint64_t kOnlyRead = 0x302000;    // the parent wrote it; the child reads it
constexpr std::uint64_t kFresh = 0x400000;       // nobody touched it before the child wrote it
constexpr std::uint64_t kParentFree = 0x600000;  // free in the parent: the child's own
constexpr std::uint64_t kKernelArea = 0x5000;    // below the app's memory
constexpr GuestRange kExcluded{0x600000, 0x700000};

GuestMemory make_memory() {
  auto memory = GuestMemory::create(kSize);
  EXPECT_TRUE(memory.has_value()) << memory.error().message;
  return std::move(*memory);
}

void fill(GuestMemory& memory, std::uint64_t address, char value) {
  std::vector<std::byte> page(kPage, std::byte(value));
  ASSERT_TRUE(memory.write_bytes(address, page));
}

bool page_is(GuestMemory& memory, std::uint64_t address, char value) {
  auto page = memory.span(address, kPage);
  if (!page) return false;
  for (std::byte b : *page) {
    if (b != std::byte(value)) return false;
  }
  return true;
}

// Forks; the child runs `child` (its exit status: what it returns) and the
// parent takes what it hands back.
template <typename Child>
Result<TakenPages> fork_and_take(GuestMemory& memory, Child child, int& child_status) {
  auto channel = open_vfork_channel();
  EXPECT_TRUE(channel.has_value());
  const pid_t pid = ::fork();
  if (pid == 0) {
    channel->parent_end.reset();
    ::_exit(child(channel->child_end.get()));
  }
  channel->child_end.reset();
  const std::atomic<int> no_stop{0};
  auto taken = take_written_pages(channel->parent_end.get(), memory, kApp, no_stop);
  ::waitpid(pid, &child_status, 0);
  return taken;
}

TEST(VforkHandoff, TheParentGetsWhatTheChildWroteInItsMappedMemoryOnly) {
  GuestMemory memory = make_memory();
  fill(memory, kWritten, 'a');
  fill(memory, kZeroed, 'b');
  fill(memory, kOnlyRead, 'c');
  int status = -1;
  auto taken = fork_and_take(
      memory,
      [&](int fd) {
        fill(memory, kWritten, 'A');
        fill(memory, kZeroed, '\0');
        volatile char seen = static_cast<char>(*memory.span(kOnlyRead, 1)->data());
        (void)seen;
        fill(memory, kFresh, 'F');
        fill(memory, kParentFree, 'X');
        fill(memory, kKernelArea, 'K');
        const GuestRange excluded[] = {kExcluded};
        auto sent = hand_back_written_pages(fd, memory, kApp, excluded, 0x345678);
        return sent && *sent >= 3 ? 0 : 1;
      },
      status);
  ASSERT_TRUE(taken.has_value()) << taken.error().message;
  EXPECT_TRUE(taken->complete);
  EXPECT_GE(taken->pages, 3u);
  EXPECT_EQ(taken->heap_end, 0x345678u);  // the child's heap end, for the parent's kernel
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(page_is(memory, kWritten, 'A'));
  EXPECT_TRUE(page_is(memory, kZeroed, '\0'));
  EXPECT_TRUE(page_is(memory, kOnlyRead, 'c'));
  EXPECT_TRUE(page_is(memory, kFresh, 'F'));
  EXPECT_TRUE(page_is(memory, kParentFree, '\0'));  // excluded: the parent's kernel expects zeros there
  EXPECT_TRUE(page_is(memory, kKernelArea, '\0'));  // never below the app's memory
}

// A kernel or sandbox that hides /proc/self/pagemap: every backed page goes,
// and the parent still ends up with exactly the child's stores.
TEST(VforkHandoff, WithoutPagemapEveryBackedPageGoesAndTheParentGetsTheSame) {
  GuestMemory memory = make_memory();
  fill(memory, kWritten, 'a');
  fill(memory, kZeroed, 'b');
  fill(memory, kOnlyRead, 'c');
  int status = -1;
  auto taken = fork_and_take(
      memory,
      [&](int fd) {
        fill(memory, kWritten, 'A');
        fill(memory, kZeroed, '\0');
        fill(memory, kFresh, 'F');
        fill(memory, kParentFree, 'X');
        const GuestRange excluded[] = {kExcluded};
        auto sent = hand_back_written_pages(fd, memory, kApp, excluded, 0, "/proc/self/no-such-pagemap");
        return sent && *sent >= 4 ? 0 : 1;
      },
      status);
  ASSERT_TRUE(taken.has_value()) << taken.error().message;
  EXPECT_TRUE(taken->complete);
  EXPECT_GE(taken->pages, 4u);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(page_is(memory, kWritten, 'A'));
  EXPECT_TRUE(page_is(memory, kZeroed, '\0'));
  EXPECT_TRUE(page_is(memory, kOnlyRead, 'c'));
  EXPECT_TRUE(page_is(memory, kFresh, 'F'));
  EXPECT_TRUE(page_is(memory, kParentFree, '\0'));
}

bool resident_here(GuestMemory& memory, std::uint64_t address) {
  unsigned char state = 0;
  return ::mincore(memory.span(address, kPage)->data(), kPage, &state) == 0 && (state & 1) != 0;
}

TEST(VforkHandoff, AChildThatOnlyReadsChangesNothingAndBacksNothingInTheParent) {
  GuestMemory memory = make_memory();
  fill(memory, kWritten, 'a');
  int status = -1;
  auto taken = fork_and_take(
      memory,
      [&](int fd) {
        std::uint64_t sum = 0;
        for (std::uint64_t address = kApp.start; address < kApp.end; address += kPage) {
          sum += static_cast<std::uint8_t>(*memory.span(address, 1)->data());
        }
        auto sent = hand_back_written_pages(fd, memory, kApp, {});
        return sent && sum == 'a' ? 0 : 1;
      },
      status);
  ASSERT_TRUE(taken.has_value()) << taken.error().message;
  EXPECT_TRUE(taken->complete);
  // Some kernels back a read of untouched memory with a zeroed page of the
  // child's own: such pages come as zero marks, never as bytes.
  EXPECT_EQ(taken->pages, taken->zero);
  EXPECT_EQ(taken->heap_end, 0u);  // none sent: unchanged
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(page_is(memory, kWritten, 'a'));
  EXPECT_FALSE(resident_here(memory, kFresh));
}

TEST(VforkHandoff, AChildThatDiesWithoutAMessageReleasesTheParent) {
  GuestMemory memory = make_memory();
  int status = -1;
  auto taken = fork_and_take(
      memory, [](int) { return 3; }, status);
  ASSERT_TRUE(taken.has_value()) << taken.error().message;
  EXPECT_FALSE(taken->complete);
  EXPECT_EQ(taken->pages, 0u);
}

TEST(VforkHandoff, APageOutsideTheAppsMemoryIsRefused) {
  GuestMemory memory = make_memory();
  int status = -1;
  // The message's records: a guest address (u64), a kind (u32: 1 = a page of
  // bytes follows) and a reserved u32.
  auto taken = fork_and_take(
      memory,
      [](int fd) {
        const std::uint64_t record[2] = {kKernelArea, 1};
        std::vector<char> page(kPage, 'K');
        return ::write(fd, record, sizeof record) == sizeof record &&
                       ::write(fd, page.data(), page.size()) == static_cast<ssize_t>(page.size())
                   ? 0
                   : 1;
      },
      status);
  ASSERT_FALSE(taken.has_value());
  EXPECT_NE(taken.error().message.find("outside the app's memory (0x5000)"), std::string::npos)
      << taken.error().message;
  EXPECT_TRUE(page_is(memory, kKernelArea, '\0'));
}

TEST(VforkHandoff, AStopSignalEndsTheWait) {
  GuestMemory memory = make_memory();
  auto channel = open_vfork_channel();
  ASSERT_TRUE(channel.has_value());
  struct sigaction action {};
  action.sa_handler = [](int) {};  // no SA_RESTART: the read is interrupted
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &old), 0);
  std::atomic<int> stop{0};
  const pthread_t waiter = ::pthread_self();
  std::atomic<bool> returned{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.store(SIGTERM);
    // Again until it returns, as hyperlet's stop timer repeats: one signal
    // could land just before the read began.
    while (!returned.load()) {
      ::pthread_kill(waiter, SIGUSR1);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  // The writing end stays open: only the stop can end the wait.
  auto taken = take_written_pages(channel->parent_end.get(), memory, kApp, stop);
  returned.store(true);
  stopper.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(taken.has_value()) << taken.error().message;
  EXPECT_FALSE(taken->complete);
}

}  // namespace
}  // namespace hyperlet
