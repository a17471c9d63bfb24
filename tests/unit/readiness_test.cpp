// epoll on the host (devices/readiness.cpp): the host fds a guest's epoll sets
// cost, which must stay bounded by the guest's own limits.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "devices/host_syscalls.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

std::size_t host_open_fds() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

class EpollSyscalls : public ::testing::Test, protected TestGuest {
 protected:
  // A pipe's read end at guest fd 3 (4 is the write end), dup'ed to fds 5 ...
  void SetUp() override {
    const std::uint64_t ends = layout_.heap_start;
    ASSERT_EQ(call(SYS_pipe2, {ends, 0}), 0);
    event_address_ = layout_.heap_start + 0x100;
    epoll_event event{};
    event.events = EPOLLIN;
    std::memcpy(memory_->span(event_address_, sizeof event)->data(), &event, sizeof event);
  }
  std::int64_t add(std::int64_t epoll, std::int64_t fd) {
    return call(SYS_epoll_ctl,
                {static_cast<std::uint64_t>(epoll), EPOLL_CTL_ADD, static_cast<std::uint64_t>(fd), event_address_});
  }
  std::uint64_t event_address_ = 0;
};

// Two guest fds of one file in one set need a second host fd (the host keys
// registrations by fd). It was kept with the file, so creating and closing sets
// grew hyperlet's fds without bound while the guest's stayed the same.
TEST_F(EpollSyscalls, ClosedSetsGiveTheirHostFdsBack) {
  ASSERT_EQ(call(SYS_dup, {3}), 5);
  const std::size_t before = host_open_fds();
  for (int round = 0; round < 2000; ++round) {
    const std::int64_t epoll = call(SYS_epoll_create1, {0});
    ASSERT_EQ(epoll, 6);
    ASSERT_EQ(add(epoll, 3), 0);
    ASSERT_EQ(add(epoll, 5), 0) << "round " << round;
    ASSERT_EQ(call(SYS_close, {6}), 0);
  }
  EXPECT_EQ(host_open_fds(), before);
  EXPECT_EQ(*context_->files.epoll_duplicates_live, 0);
}

// However the app combines its 1024 fds, the extra host fds stay within one
// more table's worth: past it, EPOLL_CTL_ADD answers ENOSPC (Linux's answer
// past max_user_watches), and what is given back can be used again.
TEST_F(EpollSyscalls, DuplicateHostFdsAreBoundedAndReusable) {
  constexpr int kDups = 300;
  for (int i = 0; i < kDups; ++i) ASSERT_EQ(call(SYS_dup, {3}), 5 + i);
  const std::int64_t first_set = 5 + kDups;
  int added = 0;
  std::int64_t refused = 0;
  for (std::int64_t set = first_set; set < first_set + 4 && refused == 0; ++set) {
    ASSERT_EQ(call(SYS_epoll_create1, {0}), set);
    ASSERT_EQ(add(set, 3), 0);
    for (int i = 0; i < kDups; ++i) {
      const std::int64_t result = add(set, 5 + i);
      if (result != 0) {
        refused = result;
        break;
      }
      ++added;
    }
  }
  EXPECT_EQ(refused, -ENOSPC);
  EXPECT_EQ(added, GuestFiles::kMaxEpollDuplicates);
  EXPECT_EQ(*context_->files.epoll_duplicates_live, GuestFiles::kMaxEpollDuplicates);
  // Deleting one registration, or closing a set, gives budget back.
  EXPECT_EQ(call(SYS_epoll_ctl, {static_cast<std::uint64_t>(first_set), EPOLL_CTL_DEL, 5, 0}), 0);
  EXPECT_EQ(*context_->files.epoll_duplicates_live, GuestFiles::kMaxEpollDuplicates - 1);
  EXPECT_EQ(call(SYS_close, {static_cast<std::uint64_t>(first_set)}), 0);
  EXPECT_EQ(*context_->files.epoll_duplicates_live, GuestFiles::kMaxEpollDuplicates - kDups);
  const std::int64_t fresh = call(SYS_epoll_create1, {0});
  ASSERT_GE(fresh, 0);
  EXPECT_EQ(add(fresh, 3), 0);
  EXPECT_EQ(add(fresh, 5), 0);
}

}  // namespace
}  // namespace hyperlet
