// The host's half of socket buffers (<hyperlet/socket_buffers.h>): memory the
// guest library shares so that an event loop's reads and writes on TCP
// connections cost neither a trap nor a VM exit. The host
// - gives each connected TCP socket on a guest fd below kSocketBufferSlots a
//   slot, and takes it back when the fd goes (update_slots, after every syscall);
// - receives into a slot when its epoll_wait finds the connection readable
//   (stash_input), and serves any forwarded read from the slot first
//   (read_stashed), so bytes always reach the app in order;
// - sends the app's deferred writes, in order, before anything else the app asks
//   (send_deferred_writes, before every forwarded syscall, exit and fault).
// Everything read back from guest memory is clamped: the guest can only confuse itself.
#pragma once

#include <hyperlet/socket_buffers.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace hyperlet {

class SyscallContext;
struct SocketState;

class SocketBuffers {
 public:
  // abi::kSyscallSocketBuffers.
  std::int64_t attach(SyscallContext& context, std::uint64_t address, std::uint64_t size);
  bool attached() const { return address_ != 0; }
  // execve: the memory is the old image's; the new one's guest library attaches
  // anew. Input stashed for the app and not read yet moves to its socket
  // (SocketState::carried_input), whose next reads get it first.
  void detach(SyscallContext& context);

  // fork: input the host took for the app and it has not read yet (carried
  // across an exec, or in a slot) moves to a pipe that the two processes
  // share (SocketState::shared_input), since each gets a copy of the app's
  // memory: whichever reads first takes it, once.
  void share_unread_input(SyscallContext& context);

  // Sends the deferred writes. With may_block, a full socket is waited for (the
  // run's deadline interrupts the wait); without, what does not fit is dropped.
  void send_deferred_writes(SyscallContext& context, bool may_block = true);
  // Follows the fd table's changes: slots for new connections, none for closed ones.
  void update_slots(SyscallContext& context, std::span<const int> changed);
  // The host's epoll_wait found guest_fd readable: fills its slot if the app has
  // read everything in it.
  void stash_input(SyscallContext& context, std::int64_t guest_fd);
  // Stashed bytes of this socket the app has not read yet (carried across an
  // exec, shared since a fork, and in its slot).
  std::uint64_t unread_input(const SyscallContext& context, const SocketState& socket) const;
  // The guest fds whose slots hold unread input (for epoll and poll readiness).
  std::vector<int> fds_with_unread_input(const SyscallContext& context) const;
  // A forwarded read of a socket with unread stashed input is served from it
  // (what an exec carried over first): the bytes copied, or nullopt when there
  // is nothing stashed.
  std::optional<std::int64_t> read_stashed(SyscallContext& context, SocketState& socket, std::span<const iovec> into,
                                           bool peek);

  struct Counters {
    std::uint64_t deferred_writes = 0;  // records sent for the app
    std::uint64_t stashed_inputs = 0;   // receives into a slot
  };
  const Counters& counters() const { return counters_; }
  // A forked child's --stats count its own work.
  void reset_counters() { counters_ = {}; }

 private:
  std::uint64_t slot_address(int slot) const;
  std::uint64_t input_address(int slot) const;
  void write_slot(SyscallContext& context, int slot, const abi::SocketSlot& value) const;
  void release(SyscallContext& context, int slot);
  void claim(SyscallContext& context, int slot, const std::shared_ptr<SocketState>& socket, int host_fd);
  void refresh_credit(SyscallContext& context, int slot, int host_fd) const;
  std::uint32_t taken(const SyscallContext& context, int slot) const;
  std::uint32_t slot_unread(const SyscallContext& context, const SocketState& socket) const;

  std::uint64_t address_ = 0;
  std::array<std::weak_ptr<SocketState>, abi::kSocketBufferSlots> owners_;
  // The host's own record of how many bytes it stashed in each slot.
  std::array<std::uint32_t, abi::kSocketBufferSlots> stashed_{};
  // Some socket may hold input carried across an exec (set by detach; cleared
  // by fds_with_unread_input once none does).
  mutable bool carrying_ = false;
  Counters counters_;
};

}  // namespace hyperlet
