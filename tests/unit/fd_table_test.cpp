// The guest's fd table (devices/fd_table.h): lowest-first allocation, the limit,
// dup semantics, the hidden range for the guest kernel's shared mappings, pairs
// (pipe2, socketpair) added whole or not at all.
#include "devices/fd_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <expected>
#include <memory>
#include <vector>

namespace hyperlet {
namespace {

std::shared_ptr<OpenFile> pipe_end() {
  auto file = std::make_shared<OpenFile>();
  file->host_fd = 42;  // never touched: not owned
  return file;
}

TEST(FdTable, StartsWithTheConsole) {
  FdTable fds;
  EXPECT_EQ(fds.open_count(), 3);
  for (int fd = 0; fd < 3; ++fd) {
    ASSERT_NE(fds.get(fd), nullptr);
    EXPECT_EQ(fds.get(fd)->host_fd, fd);
    EXPECT_FALSE(fds.get(fd)->owned.valid());
  }
  EXPECT_EQ(fds.get(3), nullptr);
  EXPECT_EQ(fds.get(-1), nullptr);
  EXPECT_EQ(fds.get(1ll << 40), nullptr);
}

TEST(FdTable, HandsOutTheLowestFreeNumber) {
  FdTable fds;
  EXPECT_EQ(fds.add(pipe_end(), false), 3);
  EXPECT_EQ(fds.add(pipe_end(), false), 4);
  EXPECT_EQ(fds.close(0), 0);
  EXPECT_EQ(fds.add(pipe_end(), true), 0);
  EXPECT_TRUE(fds.cloexec(0));
  EXPECT_EQ(fds.add(pipe_end(), false, 10), 10);
  EXPECT_EQ(fds.close(10), 0);
  EXPECT_EQ(fds.close(10), -EBADF);
  EXPECT_EQ(fds.close(-5), -EBADF);
}

TEST(FdTable, StopsAtTheLimitWithEmfile) {
  FdTable fds;
  for (int fd = 3; fd < FdTable::kLimit; ++fd) ASSERT_EQ(fds.add(pipe_end(), false), fd);
  EXPECT_EQ(fds.add(pipe_end(), false), -EMFILE);
  EXPECT_EQ(fds.open_count(), FdTable::kLimit);
  EXPECT_EQ(fds.close(500), 0);
  EXPECT_EQ(fds.add(pipe_end(), false), 500);
}

// Nothing lives above the limit: fcntl(F_DUPFD, 1030) is EINVAL, as Linux answers past RLIMIT_NOFILE.
TEST(FdTable, NoFdAboveTheLimit) {
  FdTable fds;
  const int fd = fds.add(pipe_end(), false);
  EXPECT_EQ(fds.add(pipe_end(), false, FdTable::kLimit), -EINVAL);
  EXPECT_EQ(fds.add(fds.share(fd), false, FdTable::kLimit + 6), -EINVAL);
  EXPECT_EQ(fds.get(FdTable::kLimit), nullptr);
  EXPECT_EQ(fds.close(FdTable::kLimit), -EBADF);
}

TEST(FdTable, DuplicatesShareTheFile) {
  FdTable fds;
  const int fd = fds.add(pipe_end(), false);
  EXPECT_EQ(fds.duplicate_to(fd, 1, true), 1);
  EXPECT_EQ(fds.get(1), fds.get(fd));
  EXPECT_TRUE(fds.cloexec(1));
  EXPECT_EQ(fds.close(fd), 0);
  ASSERT_NE(fds.get(1), nullptr);
  EXPECT_EQ(fds.get(1)->host_fd, 42);
  EXPECT_EQ(fds.duplicate_to(fd, 5, false), -EBADF);
  EXPECT_EQ(fds.duplicate_to(1, FdTable::kLimit, false), -EBADF);
  EXPECT_EQ(fds.duplicate_to(1, -1, false), -EBADF);
  EXPECT_EQ(fds.duplicate_to(1, 700, false), 700);
  EXPECT_EQ(fds.add(pipe_end(), false), 3);
}

TEST(FdTable, AddsAPairAtTheTwoLowestFreeNumbers) {
  FdTable fds;
  EXPECT_EQ(fds.add(pipe_end(), false), 3);
  EXPECT_EQ(fds.add(pipe_end(), false), 4);
  EXPECT_EQ(fds.close(1), 0);
  fds.take_changes();
  const std::array<std::shared_ptr<OpenFile>, 2> files{pipe_end(), pipe_end()};
  auto pair = fds.add_pair(files, true);
  ASSERT_TRUE(pair.has_value());
  EXPECT_EQ(*pair, (std::array<int, 2>{1, 5}));
  EXPECT_EQ(fds.get(1), files[0].get());
  EXPECT_EQ(fds.get(5), files[1].get());
  EXPECT_TRUE(fds.cloexec(1));
  EXPECT_TRUE(fds.cloexec(5));
  EXPECT_EQ(fds.take_changes(), (std::vector<int>{1, 5}));
  pair = fds.add_pair({pipe_end(), pipe_end()}, false);
  ASSERT_TRUE(pair.has_value());
  EXPECT_EQ(*pair, (std::array<int, 2>{6, 7}));
  EXPECT_FALSE(fds.cloexec(6));
}

TEST(FdTable, AddsBothOfAPairOrNeither) {
  FdTable fds;
  for (int fd = 3; fd < FdTable::kLimit; ++fd) ASSERT_EQ(fds.add(pipe_end(), false), fd);
  EXPECT_EQ(fds.add_pair({pipe_end(), pipe_end()}, false), std::unexpected(-EMFILE));
  EXPECT_EQ(fds.close(500), 0);
  fds.take_changes();
  // One free number: no half pair, nothing changed.
  EXPECT_EQ(fds.add_pair({pipe_end(), pipe_end()}, false), std::unexpected(-EMFILE));
  EXPECT_EQ(fds.get(500), nullptr);
  EXPECT_EQ(fds.open_count(), FdTable::kLimit - 1);
  EXPECT_TRUE(fds.take_changes().empty());
  EXPECT_EQ(fds.close(1023), 0);
  auto pair = fds.add_pair({pipe_end(), pipe_end()}, false);
  ASSERT_TRUE(pair.has_value());
  EXPECT_EQ(*pair, (std::array<int, 2>{500, 1023}));
}

}  // namespace
}  // namespace hyperlet
