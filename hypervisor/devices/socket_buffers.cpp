#include "devices/socket_buffers.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/trace_output.h"
#include "devices/host_syscalls.h"
#include "devices/sockets.h"

namespace hyperlet {
namespace {

using Shared = abi::SocketBuffers;  // the layout in guest memory
using abi::SocketSlot;

constexpr std::uint64_t kOutputUsedOffset = offsetof(Shared, output_used);
constexpr std::uint64_t kOutputOffset = offsetof(Shared, output);
// Most an app may defer on one connection between two forwarded syscalls.
constexpr std::int64_t kMaxCredit = 64 * 1024;

bool has_slot(std::int64_t fd) { return fd >= 0 && fd < abi::kSocketBufferSlots; }

// Sends all of `data`, waiting for room when may_block. False when the
// connection failed or (may_block false, or the run's deadline) gave up.
bool send_all(SyscallContext& context, int host_fd, std::span<const std::byte> data, bool may_block) {
  while (!data.empty()) {
    const ssize_t sent = ::send(host_fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) {
      data = data.subspan(static_cast<std::size_t>(sent));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN || !may_block) return false;
    pollfd writable{host_fd, POLLOUT, 0};
    if (::poll(&writable, 1, -1) < 0 && errno == EINTR) {
      context.interrupted = true;  // the run's deadline
      return false;
    }
  }
  return true;
}

// Bytes waiting in a shared-input pipe (0 once the other process took them all).
std::uint64_t shared_unread(const SocketState& socket) {
  if (!socket.shared_input.valid()) return 0;
  int available = 0;
  return ::ioctl(socket.shared_input.get(), FIONREAD, &available) == 0 && available > 0
             ? static_cast<std::uint64_t>(available)
             : 0;
}

// MSG_PEEK of the shared pipe: tee copies its bytes into a pipe of its own
// without taking them, and those are read.
std::optional<std::int64_t> peek_shared_input(const SocketState& socket, std::span<const iovec> into) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) return -errno;
  const UniqueFd read_end(ends[0]);
  const UniqueFd write_end(ends[1]);
  const ssize_t copied =
      ::tee(socket.shared_input.get(), write_end.get(), std::numeric_limits<int>::max(), SPLICE_F_NONBLOCK);
  if (copied <= 0) return std::nullopt;  // empty: the socket itself is next
  const ssize_t got = ::readv(read_end.get(), into.data(), static_cast<int>(into.size()));
  return got < 0 ? -errno : got;
}

}  // namespace

std::uint64_t SocketBuffers::slot_address(int slot) const {
  return address_ + offsetof(Shared, slots) + static_cast<std::uint64_t>(slot) * sizeof(SocketSlot);
}

std::uint64_t SocketBuffers::input_address(int slot) const {
  return address_ + offsetof(Shared, input) + static_cast<std::uint64_t>(slot) * abi::kSocketInputSize;
}

void SocketBuffers::write_slot(SyscallContext& context, int slot, const SocketSlot& value) const {
  context.write(slot_address(slot), value);
}

std::uint32_t SocketBuffers::taken(const SyscallContext& context, int slot) const {
  auto value = context.read<std::uint32_t>(slot_address(slot) + offsetof(SocketSlot, input_taken));
  return std::min(value.value_or(stashed_[static_cast<std::size_t>(slot)]), stashed_[static_cast<std::size_t>(slot)]);
}

std::int64_t SocketBuffers::attach(SyscallContext& context, std::uint64_t address, std::uint64_t size) {
  if (attached()) return -EINVAL;
  if (size != sizeof(Shared) || address % abi::kPageSize != 0) return -EINVAL;
  auto header = context.user_span(address, size);
  if (!header) return -EFAULT;
  auto version = context.read<std::uint32_t>(address + offsetof(Shared, version));
  if (!version || *version != abi::kSocketBuffersVersion) return -EINVAL;
  address_ = address;
  context.write(address_ + kOutputUsedOffset, std::uint32_t{0});
  // Slots start empty: connections already open get one as if they were new.
  for (int slot = 0; slot < static_cast<int>(abi::kSocketBufferSlots); ++slot) write_slot(context, slot, {});
  for (int fd = 0; fd < static_cast<int>(abi::kSocketBufferSlots); ++fd) context.files.fds.mark_changed(fd);
  return 0;
}

void SocketBuffers::refresh_credit(SyscallContext& context, int slot, int host_fd) const {
  // Deferred bytes must fit the socket's send buffer so that sending them does
  // not wait: half the free room (the kernel also counts its own overhead).
  std::uint32_t info[SK_MEMINFO_VARS]{};
  socklen_t length = sizeof info;
  std::int64_t credit = 0;
  if (::getsockopt(host_fd, SOL_SOCKET, SO_MEMINFO, info, &length) == 0) {
    const std::int64_t free =
        static_cast<std::int64_t>(info[SK_MEMINFO_SNDBUF]) - static_cast<std::int64_t>(info[SK_MEMINFO_WMEM_QUEUED]);
    credit = std::clamp<std::int64_t>(free / 2, 0, kMaxCredit);
  }
  context.write(slot_address(slot) + offsetof(SocketSlot, output_credit), static_cast<std::uint32_t>(credit));
}

void SocketBuffers::claim(SyscallContext& context, int slot, const std::shared_ptr<SocketState>& socket, int host_fd) {
  const auto index = static_cast<std::size_t>(slot);
  owners_[index] = socket;
  socket->slot = slot;
  stashed_[index] = 0;
  write_slot(context, slot, SocketSlot{abi::kSlotStream, 0, 0, 0});
  refresh_credit(context, slot, host_fd);
}

void SocketBuffers::detach(SyscallContext& context) {
  if (!attached()) return;
  for (int slot = 0; slot < static_cast<int>(abi::kSocketBufferSlots); ++slot) {
    // The host took these bytes from the socket: they cannot go back into it,
    // so the socket keeps them for the next image's reads, in order.
    const std::shared_ptr<SocketState> owner = owners_[static_cast<std::size_t>(slot)].lock();
    if (owner != nullptr && owner->slot == slot) {
      const std::uint32_t start = taken(context, slot);
      const std::uint32_t unread = stashed_[static_cast<std::size_t>(slot)] - start;
      if (auto input = context.user_span(input_address(slot) + start, unread); input && unread != 0) {
        owner->carried_input.insert(owner->carried_input.end(), input->begin(), input->end());
      }
    }
    release(context, slot);
  }
  address_ = 0;
  carrying_ = true;
}

void SocketBuffers::release(SyscallContext& context, int slot) {
  const auto index = static_cast<std::size_t>(slot);
  if (auto owner = owners_[index].lock(); owner != nullptr && owner->slot == slot) owner->slot = -1;
  owners_[index].reset();
  stashed_[index] = 0;
  write_slot(context, slot, {});
}

void SocketBuffers::update_slots(SyscallContext& context, std::span<const int> changed) {
  if (!attached()) return;
  for (const int fd : changed) {
    if (!has_slot(fd)) continue;
    const auto index = static_cast<std::size_t>(fd);
    const OpenFile* file = context.files.fds.get(fd);
    const std::shared_ptr<SocketState> owner = owners_[index].lock();
    if (owner != nullptr && (file == nullptr || file->socket != owner)) {
      // The fd now names something else. Unread input stays readable through
      // any other fd of the same socket (read_stashed releases the slot when it
      // is drained); ring 3 stops using the slot at once.
      if (slot_unread(context, *owner) == 0) {
        release(context, fd);
      } else {
        context.write(slot_address(fd) + offsetof(SocketSlot, flags), std::uint32_t{0});
        context.write(slot_address(fd) + offsetof(SocketSlot, output_credit), std::uint32_t{0});
      }
    } else if (owner == nullptr) {
      release(context, fd);  // its socket is gone, or it never had one
    }
    if (file == nullptr || file->socket == nullptr || owners_[index].lock() != nullptr) continue;
    const std::shared_ptr<SocketState>& socket = file->socket;
    if (socket->transport != Transport::kTcp || !socket->connected || socket->slot >= 0) continue;
    claim(context, fd, socket, file->host_fd);
  }
}

void SocketBuffers::stash_input(SyscallContext& context, std::int64_t guest_fd) {
  if (!attached() || !has_slot(guest_fd)) return;
  const int slot = static_cast<int>(guest_fd);
  const auto index = static_cast<std::size_t>(slot);
  const OpenFile* file = context.files.fds.get(guest_fd);
  const std::shared_ptr<SocketState> owner = owners_[index].lock();
  if (file == nullptr || owner == nullptr || file->socket != owner) return;
  if (unread_input(context, *owner) != 0) return;
  auto input = context.user_span(input_address(slot), abi::kSocketInputSize);
  if (!input) return;
  const ssize_t received = ::recv(file->host_fd, input->data(), input->size(), MSG_DONTWAIT);
  // End of stream and errors are left for the app's own read to meet.
  if (received <= 0) return;
  stashed_[index] = static_cast<std::uint32_t>(received);
  context.write(slot_address(slot) + offsetof(SocketSlot, input_taken), std::uint32_t{0});
  context.write(slot_address(slot) + offsetof(SocketSlot, input_length), static_cast<std::uint32_t>(received));
  ++counters_.stashed_inputs;
  // A request came in, so a reply will go out: let the app defer what its socket can take now.
  refresh_credit(context, slot, file->host_fd);
}

std::uint64_t SocketBuffers::unread_input(const SyscallContext& context, const SocketState& socket) const {
  return socket.carried_input.size() + shared_unread(socket) + slot_unread(context, socket);
}

void SocketBuffers::share_unread_input(SyscallContext& context) {
  std::vector<const SocketState*> seen;
  for (const int fd : context.files.fds.open_fds()) {
    const OpenFile* file = context.files.fds.get(fd);
    if (file == nullptr || file->socket == nullptr) continue;
    SocketState& socket = *file->socket;
    if (std::find(seen.begin(), seen.end(), &socket) != seen.end()) continue;
    seen.push_back(&socket);
    const std::uint32_t in_slot = slot_unread(context, socket);
    // A slot is filled only once everything before it was read, so a pipe
    // still holding bytes means there is nothing newer to add to it.
    if ((socket.carried_input.empty() && in_slot == 0) || shared_unread(socket) != 0) continue;
    std::vector<std::byte> bytes = socket.carried_input;
    if (in_slot != 0) {
      const std::uint32_t start = taken(context, socket.slot);
      if (auto input = context.user_span(input_address(socket.slot) + start, in_slot)) {
        bytes.insert(bytes.end(), input->begin(), input->end());
      }
    }
    int ends[2];
    bool shared = ::pipe2(ends, O_CLOEXEC | O_NONBLOCK) == 0;
    if (shared) {
      UniqueFd read_end(ends[0]);
      UniqueFd write_end(ends[1]);
      // A pipe holds 64 KiB unless asked for more (up to /proc/sys/fs/pipe-max-size).
      if (bytes.size() > 65536) ::fcntl(write_end.get(), F_SETPIPE_SZ, static_cast<int>(bytes.size()));
      shared = ::write(write_end.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
      if (shared) socket.shared_input = std::move(read_end);
    }
    // Without the pipe nothing changes: each process reads its own copy.
    if (!shared) continue;
    socket.carried_input.clear();
    if (in_slot != 0) {
      // The slot is empty for ring 3 from now on; the bytes are in the pipe.
      stashed_[static_cast<std::size_t>(socket.slot)] = 0;
      context.write(slot_address(socket.slot) + offsetof(SocketSlot, input_taken), std::uint32_t{0});
      context.write(slot_address(socket.slot) + offsetof(SocketSlot, input_length), std::uint32_t{0});
    }
    carrying_ = true;
  }
}

std::uint32_t SocketBuffers::slot_unread(const SyscallContext& context, const SocketState& socket) const {
  if (!attached() || socket.slot < 0) return 0;
  return stashed_[static_cast<std::size_t>(socket.slot)] - taken(context, socket.slot);
}

std::vector<int> SocketBuffers::fds_with_unread_input(const SyscallContext& context) const {
  std::vector<int> fds;
  if (attached()) {
    for (int slot = 0; slot < static_cast<int>(abi::kSocketBufferSlots); ++slot) {
      if (stashed_[static_cast<std::size_t>(slot)] != 0 &&
          taken(context, slot) < stashed_[static_cast<std::size_t>(slot)]) {
        fds.push_back(slot);
      }
    }
  }
  if (carrying_) {
    bool any = false;
    for (const int fd : context.files.fds.open_fds()) {
      const OpenFile* file = context.files.fds.get(fd);
      if (file == nullptr || file->socket == nullptr) continue;
      if (file->socket->shared_input.valid() && shared_unread(*file->socket) == 0) {
        file->socket->shared_input.reset();  // the other process took the rest
      }
      if (file->socket->carried_input.empty() && !file->socket->shared_input.valid()) continue;
      any = true;
      if (std::find(fds.begin(), fds.end(), fd) == fds.end()) fds.push_back(fd);
    }
    carrying_ = any;  // once every carried byte was read, this costs nothing again
  }
  return fds;
}

std::optional<std::int64_t> SocketBuffers::read_stashed(SyscallContext& context, SocketState& socket,
                                                        std::span<const iovec> into, bool peek) {
  if (!socket.carried_input.empty()) {
    std::size_t copied = 0;
    for (const iovec& vector : into) {
      const std::size_t part = std::min(vector.iov_len, socket.carried_input.size() - copied);
      std::memcpy(vector.iov_base, socket.carried_input.data() + copied, part);
      copied += part;
      if (copied == socket.carried_input.size()) break;
    }
    if (!peek) {
      socket.carried_input.erase(socket.carried_input.begin(),
                                 socket.carried_input.begin() + static_cast<std::ptrdiff_t>(copied));
    }
    return static_cast<std::int64_t>(copied);
  }
  if (socket.shared_input.valid()) {
    if (peek) {
      if (auto peeked = peek_shared_input(socket, into)) return peeked;
    } else {
      const ssize_t got = ::readv(socket.shared_input.get(), into.data(), static_cast<int>(into.size()));
      if (got > 0) return got;
      socket.shared_input.reset();  // empty: its bytes were all read, here or in the other process
    }
  }
  const std::uint32_t unread = slot_unread(context, socket);
  if (unread == 0) return std::nullopt;
  const int slot = socket.slot;
  const std::uint32_t start = taken(context, slot);
  auto input = context.user_span(input_address(slot) + start, unread);
  if (!input) return std::nullopt;
  std::size_t copied = 0;
  for (const iovec& vector : into) {
    const std::size_t part = std::min(vector.iov_len, input->size() - copied);
    // The stash and the destination are both guest memory: memmove, in case they overlap.
    std::memmove(vector.iov_base, input->data() + copied, part);
    copied += part;
    if (copied == input->size()) break;
  }
  if (!peek) {
    context.write(slot_address(slot) + offsetof(SocketSlot, input_taken), start + static_cast<std::uint32_t>(copied));
    // A slot kept only for this input (its fd was closed) is free once it is read.
    const auto flags = context.read<std::uint32_t>(slot_address(slot) + offsetof(SocketSlot, flags));
    if (copied == unread && flags.value_or(0) == 0) release(context, slot);
  }
  return static_cast<std::int64_t>(copied);
}

void SocketBuffers::send_deferred_writes(SyscallContext& context, bool may_block) {
  if (!attached()) return;
  const std::uint32_t used =
      std::min(context.read<std::uint32_t>(address_ + kOutputUsedOffset).value_or(0), abi::kDeferredOutputSize);
  if (used == 0) return;
  context.write(address_ + kOutputUsedOffset, std::uint32_t{0});
  auto output = context.user_span(address_ + kOutputOffset, used);
  if (!output) return;
  std::unordered_set<int> failed;
  std::vector<int> sent_to;
  std::size_t position = 0;
  while (position + sizeof(abi::DeferredWrite) <= output->size()) {
    abi::DeferredWrite record{};
    std::memcpy(&record, output->data() + position, sizeof record);
    const std::size_t data_start = position + sizeof record;
    if (record.length > output->size() - data_start) break;  // a torn record: nothing more is trusted
    const auto data = std::span<const std::byte>(output->data() + data_start, record.length);
    position += abi::deferred_write_span(record.length);
    const int fd = static_cast<int>(record.fd);
    const OpenFile* file = has_slot(fd) ? context.files.fds.get(fd) : nullptr;
    // Only a guest that ignored its slot's flags names anything else.
    if (file == nullptr || file->socket == nullptr || file->socket->slot != fd || failed.contains(fd)) continue;
    ++counters_.deferred_writes;
    const bool complete = send_all(context, file->host_fd, data, may_block);
    if (context.trace) {
      write_trace_line(fmt::format("[hyperlet host] write({}, {} bytes) deferred{}", fd, record.length,
                                   complete ? "" : ": not sent"));
    }
    if (!complete) {
      // The connection failed: the app's next write goes to the host and meets the error.
      failed.insert(fd);
      context.write(slot_address(fd) + offsetof(SocketSlot, output_credit), std::uint32_t{0});
      if (context.interrupted) return;
      continue;
    }
    if (std::find(sent_to.begin(), sent_to.end(), fd) == sent_to.end()) sent_to.push_back(fd);
  }
  for (const int fd : sent_to) {
    if (!failed.contains(fd)) refresh_credit(context, fd, context.files.fds.get(fd)->host_fd);
  }
}

}  // namespace hyperlet
