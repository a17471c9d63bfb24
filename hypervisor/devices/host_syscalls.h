// The host's half of the syscall interface: syscalls the guest kernel forwards
// (abi::Hypercall::kHostSyscall). Each device registers the syscalls it serves;
// everything unregistered answers -ENOSYS.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "devices/fd_table.h"
#include "devices/file_ring.h"
#include "devices/network_policy.h"
#include "devices/parked_calls.h"
#include "devices/process_groups.h"
#include "devices/processes.h"
#include "devices/socket_buffers.h"
#include "memory/file_mappings.h"
#include "memory/guest_layout.h"
#include "memory/guest_memory.h"

namespace hyperlet {

using SyscallArguments = std::array<std::uint64_t, 6>;

// Linux's limits on one read/write (MAX_RW_COUNT) and on an iovec array (UIO_MAXIOV).
inline constexpr std::uint64_t kMaxIo = 0x7ffff000;
inline constexpr std::uint64_t kMaxIovecs = 1024;

// What a host syscall handler may touch.
class SyscallContext {
 public:
  SyscallContext(GuestMemory& memory, const GuestLayout& layout, std::string exe_path)
      : parked_calls(memory), memory_(memory), layout_(layout), exe_path_(std::move(exe_path)) {}

  // App memory only: [kUserSpaceStart, page tables). Never the kernel's pages.
  std::optional<std::span<std::byte>> user_span(std::uint64_t address, std::uint64_t length) const;
  // The app's iovec array as host iovecs over checked app memory, capped at
  // kMaxIo bytes in total as Linux does; nullopt for a bad address or more than
  // kMaxIovecs entries. Data then moves between host fds and guest memory directly.
  std::optional<std::vector<iovec>> user_iovecs(std::uint64_t address, std::uint64_t count) const;
  // A NUL-terminated string in app memory, at most max_length bytes.
  std::optional<std::string> user_string(std::uint64_t address, std::size_t max_length = 4096) const;
  // A path argument as Linux reads it: -EFAULT for a bad pointer, -ENAMETOOLONG
  // when no NUL comes within kGuestPathMax bytes.
  std::expected<std::string, int> user_path(std::uint64_t address) const;

  template <typename T>
  std::optional<T> read(std::uint64_t address) const {
    auto bytes = user_span(address, sizeof(T));
    if (!bytes) return std::nullopt;
    T value;
    std::memcpy(&value, bytes->data(), sizeof(T));
    return value;
  }
  template <typename T>
  bool write(std::uint64_t address, const T& value) const {
    auto bytes = user_span(address, sizeof(T));
    if (!bytes) return false;
    std::memcpy(bytes->data(), &value, sizeof(T));
    return true;
  }

  const std::string& exe_path() const { return exe_path_; }
  // The app's files: fd table (console 0-2 included), volumes, cwd.
  GuestFiles files;
  // What --publish and --allow-connect grant.
  NetworkPolicy network;
  // Memory the guest library shares for its connections' reads and writes.
  SocketBuffers socket_buffers;
  // Memory the guest library shares for reads and writes of regular files.
  FileRing file_ring;
  // --trace: devices print a line for each request the policy denies.
  bool trace = false;
  // --quiet: not even the first denial gets a line (report_denial).
  bool quiet = false;
  // A request the policy refused (`what`, with the option that would allow it):
  // with --trace a line for each, otherwise one `hyperlet:` line for the first,
  // so that a denial is never silent unless --quiet says so.
  void report_denial(std::string_view what) const;
  mutable bool denial_reported = false;  // by report_denial, which const handlers call
  // Set by a sleep interrupted by the run's deadline.
  bool interrupted = false;
  // Set while serving a kParkableSyscall: another app thread could run, so a
  // handler that would block sets `park` instead (and does nothing else).
  bool may_park = false;
  std::optional<ParkRequest> park;
  // What the parked calls wait for, watched off the vCPU thread.
  ParkedCalls parked_calls;
  // Which app pages are a file's own pages (MAP_SHARED).
  FileMappings file_mappings;
  // The processes the app forked (wait4, waitid and kill reach only these).
  ChildProcesses children;
  // Its pid, process group and session (getpgid, setsid...).
  ProcessGroup process_group;
  // When the app said it is ready to serve (host CLOCK_MONOTONIC ns).
  std::optional<std::uint64_t> ready_ns;

 private:
  GuestMemory& memory_;
  const GuestLayout& layout_;
  std::string exe_path_;
};

using HostSyscallHandler = std::function<std::int64_t(SyscallContext&, const SyscallArguments&)>;

class HostSyscallTable {
 public:
  void add(std::uint64_t number, HostSyscallHandler handler) { handlers_[number] = std::move(handler); }
  // A forwarded syscall: the app's deferred socket writes are sent first, and
  // socket buffers and the file ring follow the fd table's changes after.
  std::int64_t call(std::uint64_t number, SyscallContext& context, const SyscallArguments& args) const;
  // Only the handler: for the file ring's reads and writes of regular files,
  // which change no fd and have no order to keep with the app's sockets (and
  // whose poller thread must never wait for a socket's room).
  std::int64_t call_handler(std::uint64_t number, SyscallContext& context, const SyscallArguments& args) const;

 private:
  std::unordered_map<std::uint64_t, HostSyscallHandler> handlers_;
};

// One registration function per device (devices/<name>.cpp).
void register_console_syscalls(HostSyscallTable& table);
void register_clock_syscalls(HostSyscallTable& table);
void register_shared_futex_syscalls(HostSyscallTable& table);
void register_random_syscalls(HostSyscallTable& table);
void register_filesystem_syscalls(HostSyscallTable& table);
void register_guest_control_syscalls(HostSyscallTable& table);
void register_robust_list_syscalls(HostSyscallTable& table);
void register_socket_syscalls(HostSyscallTable& table);
void register_readiness_syscalls(HostSyscallTable& table);
void register_process_syscalls(HostSyscallTable& table);

HostSyscallTable make_host_syscall_table();

}  // namespace hyperlet
