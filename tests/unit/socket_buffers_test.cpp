// Socket buffers (devices/socket_buffers.h) against real loopback TCP
// connections, through the same host syscall table the guest kernel reaches, with
// the guest's half played by writes into guest memory.
#include "devices/socket_buffers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>
#include <hyperlet/socket_buffers.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "devices/host_syscalls.h"
#include "devices/sockets.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

using abi::SocketSlot;
using Shared = abi::SocketBuffers;
using R = std::int64_t;

// 32 MiB: socket buffers are handed over only with that much guest memory.
class SocketBuffersTest : public ::testing::Test, protected TestGuest {
 protected:
  SocketBuffersTest() : TestGuest(32ull << 20, "/apps/server") {}

  void SetUp() override {
    buffers_ = (layout_.heap_start + 0x100000) & ~std::uint64_t{0xfff};
    ASSERT_LT(buffers_ + sizeof(Shared), layout_.page_tables_base);
    put<std::uint32_t>(offsetof(Shared, version), abi::kSocketBuffersVersion);
  }

  template <typename T>
  void put(std::uint64_t offset, const T& value) {
    ASSERT_TRUE(context_->write(buffers_ + offset, value));
  }
  template <typename T>
  T get(std::uint64_t offset) {
    return context_->read<T>(buffers_ + offset).value();
  }
  static std::uint64_t slot_offset(int fd, std::size_t field) {
    return offsetof(Shared, slots) + static_cast<std::uint64_t>(fd) * sizeof(SocketSlot) + field;
  }
  SocketSlot slot(int fd) { return get<SocketSlot>(slot_offset(fd, 0)); }
  std::string stashed(int fd) {
    const SocketSlot value = slot(fd);
    std::string text(value.input_length, '\0');
    auto bytes = context_->user_span(
        buffers_ + offsetof(Shared, input) + static_cast<std::uint64_t>(fd) * abi::kSocketInputSize, text.size());
    std::memcpy(text.data(), bytes->data(), text.size());
    return text;
  }

  void attach() {
    ASSERT_EQ(call(abi::kSyscallSocketBuffers, {buffers_, sizeof(Shared)}), 0);
    ASSERT_TRUE(context_->socket_buffers.attached());
  }

  // A loopback connection whose server end becomes a guest fd (as accept4 makes
  // one); the client end stays on the host as the peer.
  int connect_guest_socket(UniqueFd& peer) {
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener.get(), 1), 0);
    EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    peer = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(peer.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    const int host = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(host, 0);
    auto file = std::make_shared<OpenFile>();
    file->host_fd = host;
    file->owned = UniqueFd(host);
    file->socket = std::make_shared<SocketState>();
    file->socket->connected = true;
    const int fd = context_->files.fds.add(std::move(file), false);
    context_->socket_buffers.update_slots(*context_, context_->files.fds.take_changes());
    return fd;
  }

  static void send_text(const UniqueFd& peer, const std::string& text) {
    ASSERT_EQ(::send(peer.get(), text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
  }
  static std::string receive_text(const UniqueFd& peer, std::size_t length) {
    std::string text(length, '\0');
    std::size_t done = 0;
    while (done < length) {
      pollfd readable{peer.get(), POLLIN, 0};
      if (::poll(&readable, 1, 2000) != 1) break;
      const ssize_t got = ::recv(peer.get(), text.data() + done, length - done, 0);
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    text.resize(done);
    return text;
  }
  static bool readable_within(const UniqueFd& peer, int milliseconds) {
    pollfd readable{peer.get(), POLLIN, 0};
    return ::poll(&readable, 1, milliseconds) == 1;
  }

  // Waits until the guest socket has input, then lets epoll stash it.
  void stash(int fd) {
    pollfd readable{context_->files.fds.get(fd)->host_fd, POLLIN, 0};
    ASSERT_EQ(::poll(&readable, 1, 2000), 1);
    context_->socket_buffers.stash_input(*context_, fd);
  }

  // A guest read through the host syscall table into app memory.
  std::string guest_read(std::uint64_t number, int fd, std::size_t length, std::uint64_t flags = 0) {
    const std::uint64_t buffer = layout_.heap_start;
    const R got = number == SYS_read ? call(SYS_read, {static_cast<std::uint64_t>(fd), buffer, length})
                                     : call(number, {static_cast<std::uint64_t>(fd), buffer, length, flags, 0, 0});
    if (got < 0) return "error " + std::to_string(-got);
    std::string text(static_cast<std::size_t>(got), '\0');
    std::memcpy(text.data(), context_->user_span(buffer, text.size())->data(), text.size());
    return text;
  }

  // What the guest library's write() appends.
  void defer(int fd, const std::string& data) {
    const auto used = get<std::uint32_t>(offsetof(Shared, output_used));
    const abi::DeferredWrite record{static_cast<std::uint32_t>(fd), static_cast<std::uint32_t>(data.size())};
    put(offsetof(Shared, output) + used, record);
    auto bytes = context_->user_span(buffers_ + offsetof(Shared, output) + used + sizeof record, data.size());
    std::memcpy(bytes->data(), data.data(), data.size());
    put<std::uint32_t>(offsetof(Shared, output_used),
                       used + abi::deferred_write_span(static_cast<std::uint32_t>(data.size())));
  }

  std::uint64_t buffers_ = 0;
};

TEST_F(SocketBuffersTest, AttachChecksSizeAlignmentVersionAndAddress) {
  EXPECT_EQ(call(abi::kSyscallSocketBuffers, {buffers_, sizeof(Shared) - 1}), -EINVAL);
  EXPECT_EQ(call(abi::kSyscallSocketBuffers, {buffers_ + 8, sizeof(Shared)}), -EINVAL);
  EXPECT_EQ(call(abi::kSyscallSocketBuffers, {abi::kKernelImageBase, sizeof(Shared)}), -EFAULT);
  EXPECT_EQ(call(abi::kSyscallSocketBuffers, {layout_.page_tables_base - 0x1000, sizeof(Shared)}), -EFAULT);
  put<std::uint32_t>(offsetof(Shared, version), 99);
  EXPECT_EQ(call(abi::kSyscallSocketBuffers, {buffers_, sizeof(Shared)}), -EINVAL);
  EXPECT_FALSE(context_->socket_buffers.attached());
  put<std::uint32_t>(offsetof(Shared, version), abi::kSocketBuffersVersion);
  attach();
  EXPECT_EQ(call(abi::kSyscallSocketBuffers, {buffers_, sizeof(Shared)}), -EINVAL);  // only once
}

TEST_F(SocketBuffersTest, ConnectionsGetASlotFilesAndPipesDoNot) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  EXPECT_EQ(slot(fd).flags, abi::kSlotStream);
  EXPECT_GT(slot(fd).output_credit, 0u);
  EXPECT_LE(slot(fd).output_credit, 64u * 1024);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  for (int end : pipe_fds) {
    auto file = std::make_shared<OpenFile>();
    file->host_fd = end;
    file->owned = UniqueFd(end);
    const int guest = context_->files.fds.add(std::move(file), false);
    context_->socket_buffers.update_slots(*context_, context_->files.fds.take_changes());
    EXPECT_EQ(slot(guest).flags, 0u) << guest;
  }
  EXPECT_EQ(call(SYS_close, {static_cast<std::uint64_t>(fd)}), 0);
  EXPECT_EQ(slot(fd).flags, 0u);
}

TEST_F(SocketBuffersTest, ConnectionsOpenBeforeAttachGetASlotToo) {
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  attach();
  context_->socket_buffers.update_slots(*context_, context_->files.fds.take_changes());
  EXPECT_EQ(slot(fd).flags, abi::kSlotStream);
}

TEST_F(SocketBuffersTest, StashedInputComesBeforeTheSocketsOwn) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "hello world");
  stash(fd);
  EXPECT_EQ(slot(fd).input_length, 11u);
  EXPECT_EQ(stashed(fd), "hello world");
  put<std::uint32_t>(slot_offset(fd, offsetof(SocketSlot, input_taken)), 6);  // the app read "hello "
  send_text(peer, "MORE");
  EXPECT_EQ(guest_read(SYS_recvfrom, fd, 100, MSG_PEEK), "world");
  EXPECT_EQ(guest_read(SYS_read, fd, 3), "wor");
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "ld");
  EXPECT_EQ(slot(fd).input_taken, 11u);
  EXPECT_EQ(guest_read(SYS_recvfrom, fd, 100), "MORE");
  EXPECT_EQ(context_->socket_buffers.counters().stashed_inputs, 1u);
}

TEST_F(SocketBuffersTest, FionreadAndMsgWaitallCountStashedInput) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "12345");
  stash(fd);
  send_text(peer, "678");
  pollfd arrived{context_->files.fds.get(fd)->host_fd, POLLIN, 0};
  ASSERT_EQ(::poll(&arrived, 1, 2000), 1);
  const std::uint64_t count = layout_.heap_start + 0x3000;
  EXPECT_EQ(call(SYS_ioctl, {static_cast<std::uint64_t>(fd), FIONREAD, count}), 0);
  EXPECT_EQ(*context_->read<int>(count), 8);
  // MSG_WAITALL: the stashed bytes, then the rest from the socket.
  EXPECT_EQ(guest_read(SYS_recvfrom, fd, 8, MSG_WAITALL), "12345678");
}

TEST_F(SocketBuffersTest, UnreadInputIsNotOverwritten) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "first");
  stash(fd);
  send_text(peer, "second");
  stash(fd);  // the app has not read "first": the slot keeps it
  EXPECT_EQ(stashed(fd), "first");
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "first");
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "second");
}

TEST_F(SocketBuffersTest, HostileTakenCountsAreClamped) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "abc");
  stash(fd);
  put<std::uint32_t>(slot_offset(fd, offsetof(SocketSlot, input_taken)), 0xffffffff);
  EXPECT_EQ(context_->socket_buffers.unread_input(*context_, *context_->files.fds.get(fd)->socket), 0u);
  send_text(peer, "def");
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "def");
}

TEST_F(SocketBuffersTest, DeferredWritesGoOutInOrderBeforeTheNextCall) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  defer(fd, "one ");
  defer(fd, "two, ");
  ASSERT_TRUE(context_->write(layout_.heap_start, std::uint8_t{'3'}));
  EXPECT_EQ(call(SYS_write, {static_cast<std::uint64_t>(fd), layout_.heap_start, 1}), 1);
  EXPECT_EQ(receive_text(peer, 10), "one two, 3");
  EXPECT_EQ(get<std::uint32_t>(offsetof(Shared, output_used)), 0u);
  EXPECT_EQ(context_->socket_buffers.counters().deferred_writes, 2u);
  EXPECT_GT(slot(fd).output_credit, 0u);  // refreshed after sending
}

TEST_F(SocketBuffersTest, DeferredWritesAreSentBeforeAClose) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  defer(fd, "last words");
  EXPECT_EQ(call(SYS_close, {static_cast<std::uint64_t>(fd)}), 0);
  EXPECT_EQ(receive_text(peer, 64), "last words");  // then end of stream
}

TEST_F(SocketBuffersTest, MalformedOutputIsDroppedNotSent) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  // A record that claims more bytes than the output area holds.
  put(offsetof(Shared, output), abi::DeferredWrite{static_cast<std::uint32_t>(fd), 1000});
  put<std::uint32_t>(offsetof(Shared, output_used), 16);
  context_->socket_buffers.send_deferred_writes(*context_);
  EXPECT_EQ(get<std::uint32_t>(offsetof(Shared, output_used)), 0u);
  // A used count past the area, and records for fds without a slot (stdout, a closed fd).
  defer(1, "to stdout");
  defer(900, "to nobody");
  put<std::uint32_t>(offsetof(Shared, output_used), 0xffffffff);
  context_->socket_buffers.send_deferred_writes(*context_);
  EXPECT_EQ(get<std::uint32_t>(offsetof(Shared, output_used)), 0u);
  EXPECT_FALSE(readable_within(peer, 50));
  EXPECT_EQ(context_->socket_buffers.counters().deferred_writes, 0u);
}

// The guest owns the shared area and may write anything into it at any time:
// 2,000 rounds of random slots, counts and records around real host calls.
// What must hold: no crash, nothing read or written outside app memory (the
// checked accessors would fail the calls), and a forwarded read never returns
// more than asked or more than a slot can hold.
TEST_F(SocketBuffersTest, RandomSharedMemoryNeverHurtsTheHost) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  std::mt19937_64 random(0x9e3779b97f4a7c15u);  // fixed seed: the same rounds every run
  auto next = [&] { return random(); };
  const std::uint64_t buffer = layout_.heap_start;
  for (int round = 0; round < 2000; ++round) {
    // Random words over the header, the slots around the connection, and the output area.
    for (int i = 0; i < 8; ++i) {
      const std::uint64_t where = next() % 4;
      const auto value = static_cast<std::uint32_t>(next());
      if (where == 0) put<std::uint32_t>(offsetof(Shared, output_used), value % (2 * abi::kDeferredOutputSize));
      if (where == 1) put<std::uint32_t>(slot_offset(fd, (next() % 4) * 4), value);
      if (where == 2) put<std::uint32_t>(offsetof(Shared, output) + (next() % 64) * 4, value);
      if (where == 3) put<std::uint32_t>(offsetof(Shared, output) + (next() % 64) * 4, static_cast<std::uint32_t>(fd));
    }
    if (round % 50 == 0) send_text(peer, "data");
    switch (next() % 4) {
      case 0:
        context_->socket_buffers.send_deferred_writes(*context_, false);
        break;
      case 1:
        context_->socket_buffers.stash_input(*context_, fd);
        break;
      case 2: {
        const std::uint64_t length = next() % 8192;
        const R got = call(SYS_recvfrom, {static_cast<std::uint64_t>(fd), buffer, length, MSG_DONTWAIT, 0, 0});
        EXPECT_LE(got, static_cast<R>(std::min<std::uint64_t>(length, 1u << 20)));
        break;
      }
      case 3: {
        const std::uint64_t fds = layout_.heap_start + 0x8000;
        ASSERT_TRUE(context_->write(fds, pollfd{fd, POLLIN, 0}));
        EXPECT_GE(call(SYS_poll, {fds, 1, 0}), 0);
        break;
      }
    }
    EXPECT_LE(context_->socket_buffers.unread_input(*context_, *context_->files.fds.get(fd)->socket),
              abi::kSocketInputSize);
  }
}

TEST_F(SocketBuffersTest, AWriteToABrokenConnectionStopsDeferring) {
  attach();
  ::signal(SIGPIPE, SIG_IGN);  // as hyperlet's main() does: the app sees EPIPE
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  peer.reset();
  // The first send may still succeed (the peer's RST has not come back yet).
  for (int i = 0; i < 20 && slot(fd).output_credit != 0; ++i) {
    defer(fd, "into the void");
    context_->socket_buffers.send_deferred_writes(*context_);
    ::usleep(1000);
  }
  EXPECT_EQ(slot(fd).output_credit, 0u);
  // The app's own write now reaches the host and meets the error.
  ASSERT_TRUE(context_->write(layout_.heap_start, std::uint8_t{'x'}));
  const R result = call(SYS_write, {static_cast<std::uint64_t>(fd), layout_.heap_start, 1});
  EXPECT_TRUE(result == -EPIPE || result == -ECONNRESET) << result;
}

TEST_F(SocketBuffersTest, EpollStashesReadableConnectionsAndKeepsUnreadOnesReadable) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  const R epoll = call(SYS_epoll_create1, {0});
  ASSERT_GE(epoll, 0);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = 0x1234567890;
  const std::uint64_t event_address = layout_.heap_start + 0x1000;
  ASSERT_TRUE(context_->write(event_address, event));
  ASSERT_EQ(call(SYS_epoll_ctl,
                 {static_cast<std::uint64_t>(epoll), EPOLL_CTL_ADD, static_cast<std::uint64_t>(fd), event_address}),
            0);
  send_text(peer, "GET / HTTP/1.1\r\n\r\n");
  const std::uint64_t events = layout_.heap_start + 0x2000;
  auto wait = [&](int timeout) {
    return call(SYS_epoll_wait, {static_cast<std::uint64_t>(epoll), events, 8, static_cast<std::uint64_t>(timeout)});
  };
  ASSERT_EQ(wait(2000), 1);
  EXPECT_EQ(context_->read<epoll_event>(events)->data.u64, 0x1234567890u);  // the guest's own data
  EXPECT_EQ(stashed(fd), "GET / HTTP/1.1\r\n\r\n");
  // Nothing more on the socket, but the app has not read the stash: still readable.
  EXPECT_EQ(wait(0), 1);
  EXPECT_EQ(context_->read<epoll_event>(events)->events, static_cast<std::uint32_t>(EPOLLIN));
  put<std::uint32_t>(slot_offset(fd, offsetof(SocketSlot, input_taken)), slot(fd).input_length);
  EXPECT_EQ(wait(0), 0);
  // Edge-triggered: reported when it arrives, not again while it sits unread.
  event.events = EPOLLIN | EPOLLET;
  ASSERT_TRUE(context_->write(event_address, event));
  ASSERT_EQ(call(SYS_epoll_ctl,
                 {static_cast<std::uint64_t>(epoll), EPOLL_CTL_MOD, static_cast<std::uint64_t>(fd), event_address}),
            0);
  send_text(peer, "again");
  ASSERT_EQ(wait(2000), 1);
  EXPECT_EQ(stashed(fd), "again");
  EXPECT_EQ(wait(0), 0);
}

// Not socket buffers, but the epoll registrations they rely on: Linux keys a
// registration by file and fd, so two dups of one connection may both be in
// one epoll set; the host keys by host fd and gets a duplicate for the second.
TEST_F(SocketBuffersTest, TwoDupsOfOneConnectionInOneEpollSet) {
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  const R copy = call(SYS_dup, {static_cast<std::uint64_t>(fd)});
  ASSERT_GE(copy, 0);
  const R epoll = call(SYS_epoll_create1, {0});
  ASSERT_GE(epoll, 0);
  const std::uint64_t event_address = layout_.heap_start + 0x1000;
  auto control = [&](int operation, R target, std::uint64_t data) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = data;
    EXPECT_TRUE(context_->write(event_address, event));
    return call(SYS_epoll_ctl, {static_cast<std::uint64_t>(epoll), static_cast<std::uint64_t>(operation),
                                static_cast<std::uint64_t>(target), event_address});
  };
  EXPECT_EQ(control(EPOLL_CTL_ADD, fd, 1), 0);
  EXPECT_EQ(control(EPOLL_CTL_ADD, copy, 2), 0);
  EXPECT_EQ(control(EPOLL_CTL_ADD, fd, 1), -EEXIST);  // the same fd twice is still refused
  send_text(peer, "x");
  const std::uint64_t events = layout_.heap_start + 0x2000;
  ASSERT_EQ(call(SYS_epoll_wait, {static_cast<std::uint64_t>(epoll), events, 8, 2000}), 2);
  const std::uint64_t first = context_->read<epoll_event>(events)->data.u64;
  const std::uint64_t second = context_->read<epoll_event>(events + sizeof(epoll_event))->data.u64;
  EXPECT_EQ(first + second, 3u);
  EXPECT_EQ(control(EPOLL_CTL_DEL, copy, 0), 0);
  EXPECT_EQ(control(EPOLL_CTL_MOD, copy, 0), -ENOENT);
  ASSERT_EQ(call(SYS_epoll_wait, {static_cast<std::uint64_t>(epoll), events, 8, 0}), 1);
  EXPECT_EQ(context_->read<epoll_event>(events)->data.u64, 1u);
  // The duplicate does not outlive the file: closing both fds closes the connection.
  EXPECT_EQ(control(EPOLL_CTL_ADD, copy, 2), 0);
  EXPECT_EQ(guest_read(SYS_read, fd, 1), "x");  // unread input would make the close a reset
  EXPECT_EQ(call(SYS_close, {static_cast<std::uint64_t>(fd)}), 0);
  EXPECT_EQ(call(SYS_close, {static_cast<std::uint64_t>(copy)}), 0);
  ASSERT_TRUE(readable_within(peer, 2000));
  char byte;
  EXPECT_EQ(::recv(peer.get(), &byte, 1, 0), 0);  // end of stream, not a timeout
  EXPECT_EQ(call(SYS_epoll_wait, {static_cast<std::uint64_t>(epoll), events, 8, 0}), 0);
}

TEST_F(SocketBuffersTest, PollSeesUnreadInput) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "x");
  stash(fd);
  const std::uint64_t fds = layout_.heap_start + 0x1000;
  ASSERT_TRUE(context_->write(fds, pollfd{fd, POLLIN, 0}));
  EXPECT_EQ(call(SYS_poll, {fds, 1, 0}), 1);
  EXPECT_EQ(context_->read<pollfd>(fds)->revents, POLLIN);
  EXPECT_EQ(guest_read(SYS_read, fd, 1), "x");
  EXPECT_EQ(call(SYS_poll, {fds, 1, 0}), 0);
}

TEST_F(SocketBuffersTest, UnreadInputSurvivesClosingOneOfTwoFds) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "kept");
  stash(fd);
  const R copy = call(SYS_dup, {static_cast<std::uint64_t>(fd)});
  ASSERT_GE(copy, 0);
  EXPECT_EQ(call(SYS_close, {static_cast<std::uint64_t>(fd)}), 0);
  EXPECT_EQ(slot(fd).flags, 0u);  // ring 3 no longer uses it
  send_text(peer, " and more");
  EXPECT_EQ(guest_read(SYS_read, static_cast<int>(copy), 100), "kept");
  EXPECT_EQ(guest_read(SYS_read, static_cast<int>(copy), 100), " and more");
}

// execve detaches the buffers: the unread stash stays the socket's, read
// first and in order by the next image (attached or not), readable for poll
// and epoll, and counted by FIONREAD; the socket's own input follows.
TEST_F(SocketBuffersTest, UnreadInputOutlivesDetachingAtExec) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "hello world");
  stash(fd);
  put<std::uint32_t>(slot_offset(fd, offsetof(SocketSlot, input_taken)), 6);  // the app read "hello "
  context_->socket_buffers.detach(*context_);
  EXPECT_FALSE(context_->socket_buffers.attached());
  send_text(peer, "!");
  pollfd arrived{context_->files.fds.get(fd)->host_fd, POLLIN, 0};
  ASSERT_EQ(::poll(&arrived, 1, 2000), 1);
  const std::uint64_t count = layout_.heap_start + 0x3000;
  EXPECT_EQ(call(SYS_ioctl, {static_cast<std::uint64_t>(fd), FIONREAD, count}), 0);
  EXPECT_EQ(*context_->read<int>(count), 6);  // "world" carried, "!" in the socket
  EXPECT_EQ(context_->socket_buffers.fds_with_unread_input(*context_), std::vector<int>{fd});
  EXPECT_EQ(guest_read(SYS_recvfrom, fd, 100, MSG_PEEK), "world");
  EXPECT_EQ(guest_read(SYS_read, fd, 2), "wo");
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "rld");
  EXPECT_TRUE(context_->socket_buffers.fds_with_unread_input(*context_).empty());
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "!");
}

// Carried input is read before the next image's own stash can take more.
TEST_F(SocketBuffersTest, CarriedInputComesBeforeTheNextImagesStash) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "old");
  stash(fd);
  context_->socket_buffers.detach(*context_);
  attach();  // the next image's guest library
  send_text(peer, "new");
  pollfd arrived{context_->files.fds.get(fd)->host_fd, POLLIN, 0};
  ASSERT_EQ(::poll(&arrived, 1, 2000), 1);
  stash(fd);  // refused while "old" waits
  EXPECT_EQ(slot(fd).input_length, 0u);
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "old");
  stash(fd);
  EXPECT_EQ(stashed(fd), "new");
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "new");
}

// At a fork both processes get a copy of the slot: its unread bytes move to a
// pipe the two share, so each byte is read once, by whichever reads first.
TEST_F(SocketBuffersTest, UnreadInputIsSharedAtAForkAndReadOnce) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "hello world");
  stash(fd);
  put<std::uint32_t>(slot_offset(fd, offsetof(SocketSlot, input_taken)), 6);  // the app read "hello "
  context_->socket_buffers.share_unread_input(*context_);
  EXPECT_EQ(slot(fd).input_length, 0u);  // ring 3 sees none: the pipe has them
  const SocketState& socket = *context_->files.fds.get(fd)->socket;
  ASSERT_TRUE(socket.shared_input.valid());
  EXPECT_EQ(context_->socket_buffers.unread_input(*context_, socket), 5u);
  EXPECT_EQ(context_->socket_buffers.fds_with_unread_input(*context_), std::vector<int>{fd});
  EXPECT_EQ(guest_read(SYS_recvfrom, fd, 100, MSG_PEEK), "world");
  EXPECT_EQ(guest_read(SYS_recvfrom, fd, 3, MSG_PEEK), "wor");  // a peek takes nothing
  EXPECT_EQ(guest_read(SYS_read, fd, 2), "wo");
  // The other process takes "rl" through its copy of the same pipe.
  char other[2];
  ASSERT_EQ(::read(socket.shared_input.get(), other, sizeof other), 2);
  send_text(peer, "!");
  pollfd arrived{context_->files.fds.get(fd)->host_fd, POLLIN, 0};
  ASSERT_EQ(::poll(&arrived, 1, 2000), 1);
  stash(fd);  // refused while "d" waits in the pipe
  EXPECT_EQ(slot(fd).input_length, 0u);
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "d");
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "!");
  EXPECT_FALSE(socket.shared_input.valid());
  EXPECT_TRUE(context_->socket_buffers.fds_with_unread_input(*context_).empty());
}

// Input carried across an exec and the next image's stash go into the pipe in order.
TEST_F(SocketBuffersTest, CarriedAndStashedInputAreSharedInOrder) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "old ");
  stash(fd);
  context_->socket_buffers.detach(*context_);
  attach();
  EXPECT_EQ(guest_read(SYS_recvfrom, fd, 1, MSG_PEEK), "o");
  send_text(peer, "new");
  pollfd arrived{context_->files.fds.get(fd)->host_fd, POLLIN, 0};
  ASSERT_EQ(::poll(&arrived, 1, 2000), 1);
  EXPECT_EQ(guest_read(SYS_read, fd, 4), "old ");
  stash(fd);
  EXPECT_EQ(stashed(fd), "new");
  context_->files.fds.get(fd)->socket->carried_input = {std::byte{'('}, std::byte{')'}};  // carried, not read
  context_->socket_buffers.share_unread_input(*context_);
  EXPECT_TRUE(context_->files.fds.get(fd)->socket->carried_input.empty());
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "()new");
}

// Out of fds for the pipe: nothing changes (each process then reads its own
// copy), and this one still reads each byte once.
TEST_F(SocketBuffersTest, WithoutAPipeTheUnreadInputStaysAsItWas) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "hello world");
  stash(fd);
  put<std::uint32_t>(slot_offset(fd, offsetof(SocketSlot, input_taken)), 6);
  context_->files.fds.get(fd)->socket->carried_input = {std::byte{'<'}};
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  const int lowest_free = ::dup(0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit none_free = limit;
  none_free.rlim_cur = static_cast<rlim_t>(lowest_free);  // every fd number below it is taken
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &none_free), 0);
  context_->socket_buffers.share_unread_input(*context_);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
  const SocketState& socket = *context_->files.fds.get(fd)->socket;
  EXPECT_FALSE(socket.shared_input.valid());
  EXPECT_EQ(slot(fd).input_length, 11u);
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "<");
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "world");
}

// A connection with nothing unread gets no pipe.
TEST_F(SocketBuffersTest, NothingUnreadSharesNothing) {
  attach();
  UniqueFd peer;
  const int fd = connect_guest_socket(peer);
  send_text(peer, "all read");
  stash(fd);
  EXPECT_EQ(guest_read(SYS_read, fd, 100), "all read");
  context_->socket_buffers.share_unread_input(*context_);
  EXPECT_FALSE(context_->files.fds.get(fd)->socket->shared_input.valid());
}

}  // namespace
}  // namespace hyperlet
