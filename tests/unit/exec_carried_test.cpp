// What execve carries of the app's signal state (vm/exec_carried.h): the
// request comes from app-writable memory, so counts, signal numbers and fds
// are hostile until checked; signalfds must still be signalfds.
#include "vm/exec_carried.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <limits>
#include <memory>

#include "devices/fd_table.h"

namespace hyperlet {
namespace {

std::shared_ptr<OpenFile> eventfd_file(OpenFile::Anonymous::Kind kind, std::uint64_t initial) {
  auto file = std::make_shared<OpenFile>();
  file->owned = UniqueFd(::eventfd(static_cast<unsigned>(initial), EFD_CLOEXEC));
  file->host_fd = file->owned.get();
  file->anonymous.kind = kind;
  return file;
}

bool readable(const FdTable& fds, int fd) {
  pollfd poll_fd{fds.get(fd)->host_fd, POLLIN, 0};
  return ::poll(&poll_fd, 1, 0) == 1;
}

TEST(ExecCarried, KeepsPendingSignalsInRangeInOrder) {
  FdTable fds;
  abi::ExecCarried asked{};
  const std::uint32_t signals[] = {1, 0, 65, 34, std::numeric_limits<std::uint32_t>::max(), 64, 34};
  for (const std::uint32_t signal : signals) {
    asked.pending[asked.pending_count] = abi::ExecPendingSignal{signal, 1, -1, 1, 0, 0, asked.pending_count};
    ++asked.pending_count;
  }
  const abi::ExecCarried kept = carried_across_exec(asked, fds);
  ASSERT_EQ(kept.pending_count, 4u);
  EXPECT_EQ(kept.pending[0].signal, 1u);
  EXPECT_EQ(kept.pending[1].signal, 34u);
  EXPECT_EQ(kept.pending[1].value, 3u);
  EXPECT_EQ(kept.pending[2].signal, 64u);
  EXPECT_EQ(kept.pending[3].signal, 34u);
  EXPECT_EQ(kept.pending[3].value, 6u);
}

TEST(ExecCarried, HostileCountsAreClampedToTheRoom) {
  FdTable fds;
  abi::ExecCarried asked{};
  for (auto& pending : asked.pending) pending.signal = 10;
  asked.pending_count = std::numeric_limits<std::uint32_t>::max();
  asked.signalfd_count = std::numeric_limits<std::uint32_t>::max();
  for (auto& signalfd : asked.signalfds) signalfd.fd = 1;  // the console: no signalfd
  const abi::ExecCarried kept = carried_across_exec(asked, fds);
  EXPECT_EQ(kept.pending_count, abi::kExecCarriedSignals);
  EXPECT_EQ(kept.signalfd_count, 0u);
}

TEST(ExecCarried, OnlySignalfdsStillOpenStayAndStartUnreadable) {
  FdTable fds;
  const int signalfd = fds.add(eventfd_file(OpenFile::Anonymous::Kind::kSignalfd, 1), false);
  const int plain_eventfd = fds.add(eventfd_file(OpenFile::Anonymous::Kind::kEventfd, 1), false);
  const int quiet_signalfd = fds.add(eventfd_file(OpenFile::Anonymous::Kind::kSignalfd, 0), false);
  ASSERT_TRUE(readable(fds, signalfd));
  abi::ExecCarried asked{};
  const std::int64_t candidates[] = {signalfd, plain_eventfd, 900, -1, std::numeric_limits<std::int64_t>::min(),
                                     signalfd, quiet_signalfd};
  for (const std::int64_t fd : candidates) {
    asked.signalfds[asked.signalfd_count++] = abi::ExecSignalfd{fd, 1u << 0, static_cast<std::uint64_t>(fd)};
  }
  const abi::ExecCarried kept = carried_across_exec(asked, fds);
  ASSERT_EQ(kept.signalfd_count, 2u);  // a repeated fd once
  EXPECT_EQ(kept.signalfds[0].fd, signalfd);
  EXPECT_EQ(kept.signalfds[0].mask, 1u);
  EXPECT_EQ(kept.signalfds[1].fd, quiet_signalfd);
  EXPECT_FALSE(readable(fds, signalfd));      // the new kernel tells the host again
  EXPECT_TRUE(readable(fds, plain_eventfd));  // not a signalfd: untouched
}

}  // namespace
}  // namespace hyperlet
