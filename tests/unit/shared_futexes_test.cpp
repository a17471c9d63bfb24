// Futexes in shared memory (devices/shared_futexes.cpp), called through the
// host syscall table as the guest kernel forwards them: hostile arguments, the
// parked form while other threads run, and a waiter in another process (a
// fork of this test) that a wake from here ends. No KVM needed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <fstream>
#include <string>

#include "devices/host_syscalls.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

class SharedFutexes : public ::testing::Test, protected TestGuest {
 protected:
  void SetUp() override { ASSERT_EQ(context_->file_mappings.map_shared_anonymous(*memory_, shared_, 4096), 0); }
  std::uint64_t futex(std::uint64_t address, int op, std::uint32_t value, std::uint64_t timeout = 0,
                      std::uint32_t bitset = FUTEX_BITSET_MATCH_ANY) {
    return static_cast<std::uint64_t>(
        call(SYS_futex, {address, static_cast<std::uint64_t>(op), value, timeout, 0, bitset}));
  }
  std::uint64_t put_timeout(std::int64_t seconds, long nanoseconds) {
    const std::uint64_t address = layout_.heap_start;
    memory_->write(address, timespec{seconds, nanoseconds});
    return address;
  }
  const std::uint64_t shared_ = layout_.heap_start + 0x10000;
};

TEST_F(SharedFutexes, RefusesPrivateUnalignedAndUnsharedWords) {
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1)), -EINVAL);
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_ + 2, FUTEX_WAKE, 1)), -EINVAL);
  EXPECT_EQ(static_cast<std::int64_t>(futex(layout_.heap_start + 0x20000, FUTEX_WAKE, 1)), -EINVAL)
      << "private memory is the guest kernel's to answer";
  EXPECT_EQ(static_cast<std::int64_t>(futex(~std::uint64_t{0} - 3, FUTEX_WAKE, 1)), -EINVAL);
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAKE_BITSET, 1, 0, 0)), -EINVAL);
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_REQUEUE, 1)), -ENOSYS);
}

TEST_F(SharedFutexes, AReadOnlyFilesMappingWaitsAndWakesAsThisProcesssOwn) {
  const std::string path = mount_temp_volume("hyperlet-futex") + "/word";
  { std::ofstream(path) << std::string(4096, '\0'); }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::uint64_t read_only = layout_.heap_start + 0x30000;
  ASSERT_EQ(context_->file_mappings.map(*memory_, read_only, 4096, fd, 0, "/data/word"), 0);
  ::close(fd);
  ASSERT_FALSE(context_->file_mappings.find(read_only)->shared);
  EXPECT_EQ(static_cast<std::int64_t>(futex(read_only, FUTEX_WAKE, 1)), 0);
  EXPECT_EQ(static_cast<std::int64_t>(futex(read_only, FUTEX_WAIT, 1)), -EAGAIN);
}

TEST_F(SharedFutexes, WaitChecksItsWordAndTimeout) {
  memory_->write(shared_, std::uint32_t{7});
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAIT, 8)), -EAGAIN);
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAIT, 7, put_timeout(0, 1'000'000'000))), -EINVAL);
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAIT, 7, put_timeout(-1, 0))), -EINVAL);
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAIT, 7, 8)), -EFAULT) << "a timeout outside app memory";
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAIT, 7, put_timeout(0, 2'000'000))), -ETIMEDOUT);
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAKE, 1)), 0) << "nobody waits";
}

TEST_F(SharedFutexes, WhileOtherThreadsRunAWaiterIsParkedAndLooksAgainEachMillisecond) {
  memory_->write(shared_, std::uint32_t{3});
  context_->may_park = true;
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAIT, 4)), -EAGAIN);
  EXPECT_FALSE(context_->park.has_value());
  EXPECT_EQ(futex(shared_, FUTEX_WAIT, 3), 0u);
  ASSERT_TRUE(context_->park.has_value());
  ASSERT_EQ(context_->park->wait.size(), 1u);
  EXPECT_FALSE(context_->park->timeout_ns.has_value()) << "no timeout of its own";
  // What it watches is a tick that is due within a millisecond.
  pollfd tick = context_->park->wait[0];
  EXPECT_EQ(tick.events, POLLIN);
  const auto before = std::chrono::steady_clock::now();
  ASSERT_EQ(::poll(&tick, 1, 1000), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(100));
  context_->park.reset();
  // Made again after the tick: the word changed (another process's post), so
  // the wait is over; its caller looks again.
  memory_->write(shared_, std::uint32_t{4});
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAIT, 3)), -EAGAIN);
  EXPECT_FALSE(context_->park.has_value());
  // A timeout of its own ends the wait with ETIMEDOUT (counted by the guest from the first park).
  EXPECT_EQ(futex(shared_, FUTEX_WAIT, 4, put_timeout(0, 200'000)), 0u);
  ASSERT_TRUE(context_->park.has_value());
  EXPECT_EQ(context_->park->timeout_ns.value_or(0), 200'000u);
  EXPECT_EQ(context_->park->timeout_result, -ETIMEDOUT);
  context_->park.reset();
  // An absolute deadline already past.
  EXPECT_EQ(static_cast<std::int64_t>(futex(shared_, FUTEX_WAIT_BITSET, 4, put_timeout(1, 0))), -ETIMEDOUT);
  context_->may_park = false;
}

TEST_F(SharedFutexes, AWakeReachesAWaiterInAnotherProcess) {
  memory_->write(shared_, std::uint32_t{0});
  const pid_t child = ::fork();
  if (child == 0) {
    // The other process: waits on the same shared page (a host fork shares it, as an app's fork does).
    const long waited = ::syscall(SYS_futex, memory_->span(shared_, 4)->data(), FUTEX_WAIT, 0, nullptr, nullptr, 0);
    ::_exit(waited == 0 && memory_->read<std::uint32_t>(shared_).value_or(0) == 1 ? 0 : 1);
  }
  // Wake until the waiter has gone to sleep and been woken.
  std::int64_t woken = 0;
  for (int attempt = 0; attempt < 2000 && woken == 0; ++attempt) {
    memory_->write(shared_, std::uint32_t{1});
    woken = static_cast<std::int64_t>(futex(shared_, FUTEX_WAKE, 1));
    if (woken == 0) {
      memory_->write(shared_, std::uint32_t{0});
      ::usleep(1000);
    }
  }
  EXPECT_EQ(woken, 1);
  memory_->write(shared_, std::uint32_t{1});
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace hyperlet
