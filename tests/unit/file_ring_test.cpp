// The file ring's host half (devices/file_ring.h) with real files in a volume,
// through the host syscall table; the guest's half is played by writes into
// guest memory, and by a second thread where the guest would spin in ring 3.
#include "devices/file_ring.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>
#include <hyperlet/file_ring.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "devices/host_syscalls.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

using abi::FileRequest;
using Shared = abi::FileRing;
using namespace std::chrono_literals;

// TestGuest stops the poller (destroys the context) before the memory goes.
class FileRingTest : public ::testing::Test, protected TestGuest {
 protected:
  FileRingTest() : TestGuest(kDefaultMemorySize, "/apps/reader") {}

  void SetUp() override {
    std::ofstream(host_dir_ + "/data.txt") << "0123456789abcdef";
    context_->file_ring.use_table(&table_);
    ring_ = (layout_.heap_start + 0x100000) & ~std::uint64_t{0xfff};
    ASSERT_TRUE(context_->write(ring_ + offsetof(Shared, version), abi::kFileRingVersion));
  }

  std::uint64_t put(const std::string& text) {
    const std::uint64_t address = layout_.heap_start + 0x200000;
    std::memcpy(memory_->span(address, text.size() + 1)->data(), text.c_str(), text.size() + 1);
    return address;
  }
  std::int64_t open(const std::string& path, int flags) {
    return call(SYS_openat, {static_cast<std::uint64_t>(AT_FDCWD), put(path), static_cast<std::uint64_t>(flags), 0644});
  }
  void attach() { ASSERT_EQ(call(abi::kSyscallFileRing, {ring_, sizeof(Shared)}), 0); }
  std::uint8_t flags(std::int64_t fd) {
    return *context_->read<std::uint8_t>(ring_ + offsetof(Shared, fd_flags) + static_cast<std::uint64_t>(fd));
  }
  std::atomic_ref<std::uint32_t> state() {
    auto bytes = memory_->span(ring_ + offsetof(Shared, request) + offsetof(FileRequest, state), 4);
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(bytes->data()));
  }
  FileRequest request() { return *context_->read<FileRequest>(ring_ + offsetof(Shared, request)); }
  // What the guest library does before it waits.
  void submit(std::uint32_t op, std::int64_t fd, std::uint64_t buffer, std::uint64_t length, std::int64_t offset = 0) {
    FileRequest value{};
    value.op = op;
    value.fd = static_cast<std::int32_t>(fd);
    value.buffer = buffer;
    value.length = length;
    value.offset = offset;
    ASSERT_TRUE(context_->write(ring_ + offsetof(Shared, request), value));
    state().store(abi::kRequestSubmitted);
  }
  // A request performed by a kick, as the vCPU thread does it (under the lock).
  std::int64_t kicked(std::uint32_t op, std::int64_t fd, std::uint64_t buffer, std::uint64_t length,
                      std::int64_t offset = 0) {
    submit(op, fd, buffer, length, offset);
    std::lock_guard lock(context_->file_ring.mutex());
    EXPECT_EQ(call(abi::kSyscallFileRingKick, {}), 0);
    EXPECT_EQ(state().load(), abi::kRequestDone);
    state().store(abi::kRequestFree);
    return request().result;
  }
  std::string guest_text(std::uint64_t address, std::size_t length) {
    return std::string(reinterpret_cast<const char*>(memory_->span(address, length)->data()), length);
  }

  const std::string host_dir_ = mount_temp_volume("hyperlet-ring");
  std::uint64_t ring_ = 0;
};

TEST_F(FileRingTest, AttachChecksSizeAlignmentVersionAndAddress) {
  EXPECT_EQ(call(abi::kSyscallFileRing, {ring_, sizeof(Shared) + 1}), -EINVAL);
  EXPECT_EQ(call(abi::kSyscallFileRing, {ring_ + 64, sizeof(Shared)}), -EINVAL);
  EXPECT_EQ(call(abi::kSyscallFileRing, {abi::kKernelImageBase, sizeof(Shared)}), -EFAULT);
  ASSERT_TRUE(context_->write(ring_ + offsetof(Shared, version), std::uint32_t{7}));
  EXPECT_EQ(call(abi::kSyscallFileRing, {ring_, sizeof(Shared)}), -EINVAL);
  ASSERT_TRUE(context_->write(ring_ + offsetof(Shared, version), abi::kFileRingVersion));
  EXPECT_EQ(call(abi::kSyscallFileRingKick, {}), -EINVAL);  // nothing attached
  attach();
  EXPECT_EQ(call(abi::kSyscallFileRing, {ring_, sizeof(Shared)}), -EINVAL);  // only once
}

TEST_F(FileRingTest, RefusedWithOneCpu) {
  cpu_set_t all, one;
  ASSERT_EQ(::sched_getaffinity(0, sizeof all, &all), 0);
  if (CPU_COUNT(&all) < 2) GTEST_SKIP() << "this machine lets the test use one CPU only";
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &all)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
  EXPECT_EQ(call(abi::kSyscallFileRing, {ring_, sizeof(Shared)}), -EOPNOTSUPP);
  ASSERT_EQ(::sched_setaffinity(0, sizeof all, &all), 0);
  attach();
}

TEST_F(FileRingTest, OnlyRegularFilesOfVolumesAreFlagged) {
  const std::int64_t before = open("/data/data.txt", O_RDONLY);
  attach();
  EXPECT_EQ(flags(before), abi::kFdRegularFile);  // open before the ring came
  const std::int64_t directory = open("/data", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(directory, 0);
  EXPECT_EQ(flags(directory), 0);
  const std::uint64_t pipe_fds = layout_.heap_start;
  ASSERT_EQ(call(SYS_pipe2, {pipe_fds, 0}), 0);
  EXPECT_EQ(flags(*context_->read<std::int32_t>(pipe_fds)), 0);
  EXPECT_EQ(flags(0), 0);
  EXPECT_EQ(flags(1), 0);
  EXPECT_EQ(call(SYS_close, {static_cast<std::uint64_t>(before)}), 0);
  EXPECT_EQ(flags(before), 0);
}

TEST_F(FileRingTest, KickPerformsReadsAndWritesLikeTheSyscalls) {
  attach();
  const std::int64_t fd = open("/data/data.txt", O_RDWR);
  const std::uint64_t buffer = layout_.heap_start + 0x1000;
  EXPECT_EQ(kicked(abi::kFileRead, fd, buffer, 4), 4);
  EXPECT_EQ(guest_text(buffer, 4), "0123");
  EXPECT_EQ(kicked(abi::kFileRead, fd, buffer, 4), 4);  // the file position moved
  EXPECT_EQ(guest_text(buffer, 4), "4567");
  EXPECT_EQ(kicked(abi::kFilePread, fd, buffer, 6, 10), 6);
  EXPECT_EQ(guest_text(buffer, 6), "abcdef");
  std::memcpy(memory_->span(buffer, 3)->data(), "XYZ", 3);
  EXPECT_EQ(kicked(abi::kFilePwrite, fd, buffer, 3, 0), 3);
  EXPECT_EQ(kicked(abi::kFileWrite, fd, buffer, 3), 3);  // at the position: 8
  std::ifstream file(host_dir_ + "/data.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(file), {}), "XYZ34567XYZbcdef");
  const FileRing::Counters counters = context_->file_ring.counters();
  EXPECT_EQ(counters.requests, 5u);
  EXPECT_EQ(counters.kicks, 5u);
}

TEST_F(FileRingTest, HostileRequestsGetTheErrorsASyscallWould) {
  attach();
  const std::int64_t fd = open("/data/data.txt", O_RDONLY);
  const std::uint64_t buffer = layout_.heap_start + 0x1000;
  EXPECT_EQ(kicked(99, fd, buffer, 4), -EINVAL);             // no such operation
  EXPECT_EQ(kicked(abi::kFileRead, 77, buffer, 4), -EBADF);  // not open
  EXPECT_EQ(kicked(abi::kFileRead, -1, buffer, 4), -EBADF);
  EXPECT_EQ(kicked(abi::kFileRead, fd, abi::kBootInfoAddr, 4), -EFAULT);  // the guest kernel's memory
  EXPECT_EQ(kicked(abi::kFileRead, fd, buffer, ~0ull), -EFAULT);          // huge length
  EXPECT_EQ(kicked(abi::kFileWrite, fd, buffer, 4), -EBADF);              // opened read-only
  EXPECT_EQ(kicked(abi::kFilePread, fd, buffer, 4, -1), -EINVAL);         // negative offset
  // An fd that is not a regular volume file is refused even if the guest marks it
  // as one: a read of an empty pipe would otherwise block the host.
  const std::uint64_t pipe_fds = layout_.heap_start + 0x3000;
  ASSERT_EQ(call(SYS_pipe2, {pipe_fds, 0}), 0);
  const std::int32_t pipe_read = *context_->read<std::int32_t>(pipe_fds);
  ASSERT_TRUE(
      context_->write(ring_ + offsetof(Shared, fd_flags) + static_cast<std::uint64_t>(pipe_read), abi::kFdRegularFile));
  EXPECT_EQ(kicked(abi::kFileRead, pipe_read, buffer, 4), -EBADF);
  // A kick with nothing submitted, or a request already done, performs nothing.
  const std::uint64_t before = context_->file_ring.counters().requests;
  {
    std::lock_guard lock(context_->file_ring.mutex());
    state().store(abi::kRequestDone);
    EXPECT_EQ(call(abi::kSyscallFileRingKick, {}), 0);
  }
  EXPECT_EQ(context_->file_ring.counters().requests, before);
}

// Random requests (any op, fd, address, length, offset), kicked: each gets a
// syscall's answer, none reaches outside app memory or the guest's own fds.
TEST_F(FileRingTest, RandomRequestsGetAnswersNotCrashes) {
  attach();
  const std::int64_t fd = open("/data/data.txt", O_RDWR);
  std::mt19937_64 random(0x2545f4914f6cdd1du);  // fixed seed: the same rounds every run
  auto next = [&] { return random(); };
  const std::uint64_t addresses[] = {
      0, abi::kBootInfoAddr, layout_.heap_start + 0x1000, layout_.page_tables_base - 8, layout_.memory_size, ~0ull};
  for (int round = 0; round < 1000; ++round) {
    const auto op = static_cast<std::uint32_t>(next() % 6);  // 4 and 5 are no operation
    const std::int64_t target = next() % 3 == 0 ? static_cast<std::int64_t>(next() % 2048) - 1024 : fd;
    const std::uint64_t address = addresses[next() % std::size(addresses)];
    const std::uint64_t length = next() % 3 == 0 ? next() : next() % 64;
    const auto offset = static_cast<std::int64_t>(next() % 3 == 0 ? next() : next() % 32);
    const std::int64_t result = kicked(op, target, address, length, offset);
    EXPECT_TRUE(result >= 0 ? result <= static_cast<std::int64_t>(length) : result >= -4095) << result;
  }
  // The volume's file is still what the valid writes made it: 16 bytes or more, readable.
  EXPECT_GE(kicked(abi::kFilePread, fd, layout_.heap_start + 0x1000, 4, 0), 0);
}

TEST_F(FileRingTest, ThePollerPerformsRequestsWithoutAKick) {
  attach();
  const std::int64_t fd = open("/data/data.txt", O_RDONLY);
  const std::uint64_t buffer = layout_.heap_start + 0x1000;
  context_->file_ring.set_idle_window(300ms);
  EXPECT_EQ(kicked(abi::kFileRead, fd, buffer, 2), 2);  // starts the poller
  // Like the guest library: submit, look at poller_active, kick only if it is 0,
  // and wait. The poller is first given time to start polling (a thread start).
  auto poller_active = [&] { return *context_->read<std::uint32_t>(ring_ + offsetof(Shared, poller_active)) != 0; };
  for (int i = 0; i < 7; ++i) {
    if (i == 0) {
      const auto started = std::chrono::steady_clock::now() + 2s;
      while (!poller_active() && std::chrono::steady_clock::now() < started) std::this_thread::yield();
    }
    submit(abi::kFilePread, fd, buffer, 2, 2 * (i + 1));
    if (!poller_active()) {
      std::lock_guard lock(context_->file_ring.mutex());
      call(abi::kSyscallFileRingKick, {});
    }
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (state().load() != abi::kRequestDone && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    ASSERT_EQ(state().load(), abi::kRequestDone);
    EXPECT_EQ(request().result, 2);
    EXPECT_EQ(guest_text(buffer, 2), std::string("0123456789abcdef").substr(2 * (i + 1), 2));
    state().store(abi::kRequestFree);
  }
  EXPECT_GE(context_->file_ring.counters().by_poller, 6u);
  // Idle for longer than its window, the poller stops polling.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (*context_->read<std::uint32_t>(ring_ + offsetof(Shared, poller_active)) != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(*context_->read<std::uint32_t>(ring_ + offsetof(Shared, poller_active)), 0u);
}

TEST_F(FileRingTest, ThePollerWaitsForTheVcpuThreadsHypercall) {
  attach();
  const std::int64_t fd = open("/data/data.txt", O_RDONLY);
  const std::uint64_t buffer = layout_.heap_start + 0x1000;
  EXPECT_EQ(kicked(abi::kFileRead, fd, buffer, 1), 1);  // starts the poller
  std::unique_lock hypercall(context_->file_ring.mutex());
  submit(abi::kFilePread, fd, buffer, 1, 5);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(state().load(), abi::kRequestSubmitted);  // not while the vCPU thread holds the lock
  hypercall.unlock();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (state().load() != abi::kRequestDone && std::chrono::steady_clock::now() < deadline) {
    if (*context_->read<std::uint32_t>(ring_ + offsetof(Shared, poller_active)) == 0) {
      std::lock_guard lock(context_->file_ring.mutex());  // its window closed meanwhile: kick, as the guest would
      call(abi::kSyscallFileRingKick, {});
    }
    std::this_thread::yield();
  }
  EXPECT_EQ(state().load(), abi::kRequestDone);
  EXPECT_EQ(guest_text(buffer, 1), "5");
}

}  // namespace
}  // namespace hyperlet
