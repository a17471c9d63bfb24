#include "vm/syscall_trace.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <time.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "devices/syscall_decoding.h"
#include "devices/syscall_names.h"
#include "vm/syscall_arity.h"

namespace hyperlet {
namespace {

// How an argument is shown.
enum class Kind : std::uint8_t {
  kNumber,          // decimal, or hex above 0xffff (unknown meaning)
  kInt,             // signed decimal
  kUnsigned,        // decimal
  kPointer,         // hex, NULL for 0
  kFd,              // a 32-bit fd
  kDirFd,           // AT_FDCWD or an fd
  kPath,            // a NUL-terminated string
  kInBuffer,        // bytes the app passes; the next argument is their length
  kOutBuffer,       // bytes the call filled; the result is their length
  kOutString,       // a NUL-terminated string the call filled (getcwd)
  kInIovecs,        // an iovec array the app passes; the next argument is its length
  kOutIovecs,       // an iovec array the call filled, as far as the result says
  kOpenFlags,       //
  kCreateMode,      // the mode, shown only when the previous argument has O_CREAT or O_TMPFILE
  kMode,            // octal
  kProt,            //
  kMapFlags,        //
  kFamily,          //
  kSocketType,      // also accept4's flags
  kFdFlags,         // O_CLOEXEC|O_NONBLOCK (pipe2, dup3, eventfd2, epoll_create1...)
  kSockaddrIn,      // the next argument is its length
  kSockaddrOut,     // filled by the call; the next argument points at its length
  kSocklenOut,      // [16]
  kFcntlCommand,    //
  kFcntlArgument,   // by the command before it; left out for the F_GET* commands
  kAtFlags,         //
  kMessageFlags,    //
  kSignal,          //
  kIoctlRequest,    //
  kWhence,          //
  kEpollOperation,  //
  kShutdownHow,     //
  kArchPrctlCode,   //
  kClockId,         //
};

struct Spec {
  std::vector<Kind> arguments;
  bool address_result = false;  // mmap, brk, mremap: the result in hex
};

using K = Kind;

Spec S(std::initializer_list<Kind> arguments, bool address_result = false) { return Spec{arguments, address_result}; }

const std::unordered_map<std::uint64_t, Spec>& specs() {
  static const std::unordered_map<std::uint64_t, Spec> table = {
      {SYS_read, S({K::kFd, K::kOutBuffer, K::kUnsigned})},
      {SYS_write, S({K::kFd, K::kInBuffer, K::kUnsigned})},
      {SYS_pread64, S({K::kFd, K::kOutBuffer, K::kUnsigned, K::kInt})},
      {SYS_pwrite64, S({K::kFd, K::kInBuffer, K::kUnsigned, K::kInt})},
      {SYS_readv, S({K::kFd, K::kOutIovecs, K::kUnsigned})},
      {SYS_writev, S({K::kFd, K::kInIovecs, K::kUnsigned})},
      {SYS_preadv, S({K::kFd, K::kOutIovecs, K::kUnsigned, K::kInt})},
      {SYS_pwritev, S({K::kFd, K::kInIovecs, K::kUnsigned, K::kInt})},
      {SYS_open, S({K::kPath, K::kOpenFlags, K::kCreateMode})},
      {SYS_openat, S({K::kDirFd, K::kPath, K::kOpenFlags, K::kCreateMode})},
      {SYS_creat, S({K::kPath, K::kMode})},
      {SYS_close, S({K::kFd})},
      {SYS_stat, S({K::kPath, K::kPointer})},
      {SYS_lstat, S({K::kPath, K::kPointer})},
      {SYS_fstat, S({K::kFd, K::kPointer})},
      {SYS_newfstatat, S({K::kDirFd, K::kPath, K::kPointer, K::kAtFlags})},
      {SYS_statx, S({K::kDirFd, K::kPath, K::kAtFlags, K::kPointer, K::kPointer})},
      {SYS_access, S({K::kPath, K::kInt})},
      {SYS_faccessat, S({K::kDirFd, K::kPath, K::kInt})},
      {SYS_faccessat2, S({K::kDirFd, K::kPath, K::kInt, K::kAtFlags})},
      {SYS_readlink, S({K::kPath, K::kOutBuffer, K::kUnsigned})},
      {SYS_readlinkat, S({K::kDirFd, K::kPath, K::kOutBuffer, K::kUnsigned})},
      {SYS_mkdir, S({K::kPath, K::kMode})},
      {SYS_mkdirat, S({K::kDirFd, K::kPath, K::kMode})},
      {SYS_rmdir, S({K::kPath})},
      {SYS_unlink, S({K::kPath})},
      {SYS_unlinkat, S({K::kDirFd, K::kPath, K::kAtFlags})},
      {SYS_rename, S({K::kPath, K::kPath})},
      {SYS_renameat, S({K::kDirFd, K::kPath, K::kDirFd, K::kPath})},
      {SYS_renameat2, S({K::kDirFd, K::kPath, K::kDirFd, K::kPath, K::kUnsigned})},
      {SYS_link, S({K::kPath, K::kPath})},
      {SYS_linkat, S({K::kDirFd, K::kPath, K::kDirFd, K::kPath, K::kAtFlags})},
      {SYS_symlink, S({K::kPath, K::kPath})},
      {SYS_symlinkat, S({K::kPath, K::kDirFd, K::kPath})},
      {SYS_chdir, S({K::kPath})},
      {SYS_fchdir, S({K::kFd})},
      {SYS_getcwd, S({K::kOutString, K::kUnsigned})},
      {SYS_truncate, S({K::kPath, K::kInt})},
      {SYS_ftruncate, S({K::kFd, K::kInt})},
      {SYS_chmod, S({K::kPath, K::kMode})},
      {SYS_fchmod, S({K::kFd, K::kMode})},
      {SYS_fchmodat, S({K::kDirFd, K::kPath, K::kMode})},
      {SYS_lseek, S({K::kFd, K::kInt, K::kWhence})},
      {SYS_getdents64, S({K::kFd, K::kPointer, K::kUnsigned})},
      {SYS_fsync, S({K::kFd})},
      {SYS_fdatasync, S({K::kFd})},
      {SYS_dup, S({K::kFd})},
      {SYS_dup2, S({K::kFd, K::kFd})},
      {SYS_dup3, S({K::kFd, K::kFd, K::kFdFlags})},
      {SYS_pipe2, S({K::kPointer, K::kFdFlags})},
      {SYS_fcntl, S({K::kFd, K::kFcntlCommand, K::kFcntlArgument})},
      {SYS_ioctl, S({K::kFd, K::kIoctlRequest, K::kPointer})},
      {SYS_mmap, S({K::kPointer, K::kUnsigned, K::kProt, K::kMapFlags, K::kFd, K::kInt}, true)},
      {SYS_mprotect, S({K::kPointer, K::kUnsigned, K::kProt})},
      {SYS_munmap, S({K::kPointer, K::kUnsigned})},
      {SYS_mremap, S({K::kPointer, K::kUnsigned, K::kUnsigned, K::kNumber, K::kPointer}, true)},
      {SYS_brk, S({K::kPointer}, true)},
      {SYS_socket, S({K::kFamily, K::kSocketType, K::kInt})},
      {SYS_socketpair, S({K::kFamily, K::kSocketType, K::kInt, K::kPointer})},
      {SYS_connect, S({K::kFd, K::kSockaddrIn, K::kUnsigned})},
      {SYS_bind, S({K::kFd, K::kSockaddrIn, K::kUnsigned})},
      {SYS_listen, S({K::kFd, K::kInt})},
      {SYS_accept, S({K::kFd, K::kSockaddrOut, K::kSocklenOut})},
      {SYS_accept4, S({K::kFd, K::kSockaddrOut, K::kSocklenOut, K::kSocketType})},
      {SYS_getsockname, S({K::kFd, K::kSockaddrOut, K::kSocklenOut})},
      {SYS_getpeername, S({K::kFd, K::kSockaddrOut, K::kSocklenOut})},
      {SYS_sendto, S({K::kFd, K::kInBuffer, K::kUnsigned, K::kMessageFlags, K::kSockaddrIn, K::kUnsigned})},
      {SYS_recvfrom, S({K::kFd, K::kOutBuffer, K::kUnsigned, K::kMessageFlags, K::kSockaddrOut, K::kSocklenOut})},
      {SYS_sendmsg, S({K::kFd, K::kPointer, K::kMessageFlags})},
      {SYS_recvmsg, S({K::kFd, K::kPointer, K::kMessageFlags})},
      {SYS_sendmmsg, S({K::kFd, K::kPointer, K::kUnsigned, K::kMessageFlags})},
      {SYS_recvmmsg, S({K::kFd, K::kPointer, K::kUnsigned, K::kMessageFlags, K::kPointer})},
      {SYS_shutdown, S({K::kFd, K::kShutdownHow})},
      {SYS_setsockopt, S({K::kFd, K::kInt, K::kInt, K::kPointer, K::kUnsigned})},
      {SYS_getsockopt, S({K::kFd, K::kInt, K::kInt, K::kPointer, K::kPointer})},
      {SYS_epoll_create1, S({K::kFdFlags})},
      {SYS_epoll_ctl, S({K::kFd, K::kEpollOperation, K::kFd, K::kPointer})},
      {SYS_epoll_wait, S({K::kFd, K::kPointer, K::kInt, K::kInt})},
      {SYS_epoll_pwait, S({K::kFd, K::kPointer, K::kInt, K::kInt, K::kPointer, K::kUnsigned})},
      {SYS_eventfd2, S({K::kUnsigned, K::kFdFlags})},
      {SYS_timerfd_create, S({K::kInt, K::kFdFlags})},
      {SYS_getrandom, S({K::kOutBuffer, K::kUnsigned, K::kUnsigned})},
      {SYS_kill, S({K::kInt, K::kSignal})},
      {SYS_tkill, S({K::kInt, K::kSignal})},
      {SYS_tgkill, S({K::kInt, K::kInt, K::kSignal})},
      {SYS_rt_sigaction, S({K::kSignal, K::kPointer, K::kPointer, K::kUnsigned})},
      {SYS_rt_sigqueueinfo, S({K::kInt, K::kSignal, K::kPointer})},
      {SYS_rt_tgsigqueueinfo, S({K::kInt, K::kInt, K::kSignal, K::kPointer})},
      {SYS_rt_sigtimedwait, S({K::kPointer, K::kPointer, K::kPointer, K::kUnsigned})},
      {SYS_signalfd, S({K::kFd, K::kPointer, K::kUnsigned})},
      {SYS_signalfd4, S({K::kFd, K::kPointer, K::kUnsigned, K::kFdFlags})},
      {SYS_alarm, S({K::kUnsigned})},
      {SYS_setitimer, S({K::kInt, K::kPointer, K::kPointer})},
      {SYS_getitimer, S({K::kInt, K::kPointer})},
      {SYS_timer_create, S({K::kClockId, K::kPointer, K::kPointer})},
      {SYS_timer_settime, S({K::kInt, K::kInt, K::kPointer, K::kPointer})},
      {SYS_timer_gettime, S({K::kInt, K::kPointer})},
      {SYS_timer_getoverrun, S({K::kInt})},
      {SYS_timer_delete, S({K::kInt})},
      {SYS_arch_prctl, S({K::kArchPrctlCode, K::kPointer})},
      {SYS_clock_gettime, S({K::kClockId, K::kPointer})},
      {SYS_clock_getres, S({K::kClockId, K::kPointer})},
      {SYS_clock_nanosleep, S({K::kClockId, K::kInt, K::kPointer, K::kPointer})},
      {SYS_getrusage, S({K::kInt, K::kPointer})},
      {SYS_times, S({K::kPointer})},
      {SYS_exit, S({K::kInt})},
      {SYS_exit_group, S({K::kInt})},
  };
  return table;
}

std::string pointer(std::uint64_t address) { return address == 0 ? "NULL" : fmt::format("{:#x}", address); }

std::string number(std::uint64_t value) {
  return value > 0xffff ? fmt::format("{:#x}", value) : fmt::format("{}", value);
}

std::optional<std::span<const std::byte>> read(const GuestBytes& memory, std::uint64_t address, std::uint64_t length) {
  if (!memory || address == 0) return std::nullopt;
  return memory(address, length);
}

// A NUL-terminated string of at most `limit` bytes (strace shows paths whole).
std::string string_at(const GuestBytes& memory, std::uint64_t address, std::size_t limit = 4096) {
  std::string text;
  for (std::size_t i = 0; i < limit; ++i) {
    auto byte = read(memory, address + i, 1);
    if (!byte) return pointer(address);
    if ((*byte)[0] == std::byte{0}) {
      return quote_bytes(std::as_bytes(std::span(text.data(), text.size())), limit);
    }
    text += static_cast<char>((*byte)[0]);
  }
  return quote_bytes(std::as_bytes(std::span(text.data(), text.size())), limit, true);
}

std::string buffer_at(const GuestBytes& memory, std::uint64_t address, std::uint64_t length) {
  if (length == 0) return "\"\"";
  auto bytes = read(memory, address, std::min<std::uint64_t>(length, kTraceStringLimit));
  if (!bytes) return pointer(address);
  return quote_bytes(*bytes, kTraceStringLimit, length > kTraceStringLimit);
}

// strace's array of iovecs: each iov_base quoted (at most kTraceStringLimit bytes,
// and no more than `available` bytes in all: what a readv filled), at most
// kMaxShownIovecs entries. The pointer when the array is not app memory.
constexpr std::uint64_t kMaxShownIovecs = 8;

std::string iovecs_at(const GuestBytes& memory, std::uint64_t address, std::uint64_t count, std::uint64_t available) {
  const std::uint64_t shown = std::min(count, kMaxShownIovecs);
  auto array = read(memory, address, shown * sizeof(iovec));
  if (!array) return pointer(address);
  std::vector<std::string> entries;
  for (std::uint64_t i = 0; i < shown; ++i) {
    iovec vector{};
    std::memcpy(&vector, array->data() + i * sizeof(iovec), sizeof vector);
    const auto base = reinterpret_cast<std::uint64_t>(vector.iov_base);
    const std::uint64_t length = std::min<std::uint64_t>(vector.iov_len, available);
    available -= length;
    entries.push_back(fmt::format("{{iov_base={}, iov_len={}}}", buffer_at(memory, base, length), vector.iov_len));
  }
  return fmt::format("[{}{}]", fmt::join(entries, ", "), count > shown ? ", ..." : "");
}

std::string named(std::uint64_t value, std::initializer_list<std::pair<std::uint64_t, std::string_view>> names) {
  for (const auto& [number, name] : names) {
    if (number == value) return std::string(name);
  }
  return fmt::format("{}", static_cast<std::int64_t>(value));
}

std::string ioctl_request(std::uint64_t request) {
  switch (request) {
    case TCGETS:
      return "TCGETS";
    case TCSETS:
      return "TCSETS";
    case TIOCGWINSZ:
      return "TIOCGWINSZ";
    case TIOCSWINSZ:
      return "TIOCSWINSZ";
    case FIONREAD:
      return "FIONREAD";
    case FIONBIO:
      return "FIONBIO";
    default:
      return fmt::format("{:#x}", request);
  }
}

std::string whence(std::uint64_t value) {
  switch (value) {
    case SEEK_SET:
      return "SEEK_SET";
    case SEEK_CUR:
      return "SEEK_CUR";
    case SEEK_END:
      return "SEEK_END";
    default:
      return fmt::format("{}", value);
  }
}

// One argument, or nullopt when strace leaves it out.
std::optional<std::string> argument(const abi::SyscallArgs& call, std::size_t i, Kind kind, const GuestBytes& memory) {
  const std::uint64_t value = call.args[i];
  const std::uint64_t next = i + 1 < 6 ? call.args[i + 1] : 0;
  const std::uint64_t previous = i > 0 ? call.args[i - 1] : 0;
  const bool succeeded = call.result >= 0 && call.result != abi::kParked;
  switch (kind) {
    case K::kNumber:
      return number(value);
    case K::kInt:
      return fmt::format("{}", static_cast<std::int64_t>(value));
    case K::kUnsigned:
      return fmt::format("{}", value);
    case K::kPointer:
      return pointer(value);
    case K::kFd:
      return fmt::format("{}", static_cast<std::int32_t>(value));
    case K::kDirFd:
      return decode_dirfd(value);
    case K::kPath:
      return string_at(memory, value);
    case K::kInBuffer:
      return buffer_at(memory, value, next);
    case K::kOutBuffer:
      return succeeded ? buffer_at(memory, value, static_cast<std::uint64_t>(call.result)) : pointer(value);
    case K::kOutString:
      return succeeded ? string_at(memory, value) : pointer(value);
    case K::kInIovecs:
      return iovecs_at(memory, value, next, UINT64_MAX);
    case K::kOutIovecs:
      return succeeded ? iovecs_at(memory, value, next, static_cast<std::uint64_t>(call.result)) : pointer(value);
    case K::kOpenFlags:
      return decode_open_flags(value);
    case K::kCreateMode:
      if ((previous & O_CREAT) == 0 && (previous & O_TMPFILE) != O_TMPFILE) return std::nullopt;
      return decode_mode(value);
    case K::kMode:
      return decode_mode(value);
    case K::kProt:
      return decode_mmap_prot(value);
    case K::kMapFlags:
      return decode_mmap_flags(value);
    case K::kFamily:
      return decode_socket_family(value);
    case K::kSocketType:
      return decode_socket_type(value);
    case K::kFdFlags:
      return decode_fd_flags(value);
    case K::kSockaddrIn: {
      auto bytes = read(memory, value, std::min<std::uint64_t>(next, 128));
      return bytes ? decode_sockaddr(*bytes) : pointer(value);
    }
    case K::kSockaddrOut: {
      if (!succeeded || value == 0) return pointer(value);
      auto length = read(memory, next, sizeof(std::uint32_t));
      if (!length) return pointer(value);
      std::uint32_t size = 0;
      std::memcpy(&size, length->data(), sizeof size);
      auto bytes = read(memory, value, std::min<std::uint32_t>(size, 128));
      return bytes ? decode_sockaddr(*bytes) : pointer(value);
    }
    case K::kSocklenOut: {
      auto length = succeeded ? read(memory, value, sizeof(std::uint32_t)) : std::nullopt;
      if (!length) return pointer(value);
      std::uint32_t size = 0;
      std::memcpy(&size, length->data(), sizeof size);
      return fmt::format("[{}]", size);
    }
    case K::kFcntlCommand:
      return decode_fcntl_command(value);
    case K::kFcntlArgument:
      switch (previous) {
        case F_GETFD:
        case F_GETFL:
        case F_GETOWN:
        case F_GETPIPE_SZ:
        case F_GET_SEALS:
          return std::nullopt;
        case F_SETFL:
          return decode_open_flags(value);
        case F_SETFD:
          return value == FD_CLOEXEC ? std::string("FD_CLOEXEC") : fmt::format("{}", value);
        case F_GETLK:
        case F_SETLK:
        case F_SETLKW:
        case F_OFD_GETLK:
        case F_OFD_SETLK:
        case F_OFD_SETLKW:
          return pointer(value);
        default:
          return fmt::format("{}", static_cast<std::int64_t>(value));
      }
    case K::kAtFlags:
      return decode_at_flags(value);
    case K::kMessageFlags:
      return decode_message_flags(value);
    case K::kSignal:
      return decode_signal(value);
    case K::kIoctlRequest:
      return ioctl_request(value);
    case K::kWhence:
      return whence(value);
    case K::kEpollOperation:
      return named(
          value,
          {{EPOLL_CTL_ADD, "EPOLL_CTL_ADD"}, {EPOLL_CTL_DEL, "EPOLL_CTL_DEL"}, {EPOLL_CTL_MOD, "EPOLL_CTL_MOD"}});
    case K::kShutdownHow:
      return named(value, {{SHUT_RD, "SHUT_RD"}, {SHUT_WR, "SHUT_WR"}, {SHUT_RDWR, "SHUT_RDWR"}});
    case K::kArchPrctlCode:
      return named(value, {{ARCH_SET_GS, "ARCH_SET_GS"},
                           {ARCH_SET_FS, "ARCH_SET_FS"},
                           {ARCH_GET_FS, "ARCH_GET_FS"},
                           {ARCH_GET_GS, "ARCH_GET_GS"}});
    case K::kClockId:
      return named(value, {{CLOCK_REALTIME, "CLOCK_REALTIME"},
                           {CLOCK_MONOTONIC, "CLOCK_MONOTONIC"},
                           {CLOCK_PROCESS_CPUTIME_ID, "CLOCK_PROCESS_CPUTIME_ID"},
                           {CLOCK_THREAD_CPUTIME_ID, "CLOCK_THREAD_CPUTIME_ID"},
                           {CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW"},
                           {CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE"},
                           {CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE"},
                           {CLOCK_BOOTTIME, "CLOCK_BOOTTIME"}});
  }
  return number(value);
}

}  // namespace

std::string format_syscall(const abi::SyscallArgs& call, const GuestBytes& memory) {
  std::vector<std::string> arguments;
  bool address_result = false;
  if (auto spec = specs().find(call.number); spec != specs().end()) {
    address_result = spec->second.address_result;
    for (std::size_t i = 0; i < spec->second.arguments.size(); ++i) {
      if (auto text = argument(call, i, spec->second.arguments[i], memory)) arguments.push_back(std::move(*text));
    }
  } else {
    // Not decoded: as many raw arguments as the syscall takes; for one not in the
    // arity table, all six registers without the trailing zeros.
    int count = 6;
    if (auto arity = syscall_arity(call.number)) {
      count = *arity;
    } else {
      while (count > 0 && call.args[count - 1] == 0) --count;
    }
    for (int i = 0; i < count; ++i) arguments.push_back(number(call.args[i]));
  }
  const std::string result = call.result == abi::kParked ? "?" : decode_result(call.result, address_result);
  return fmt::format("{}({}) = {}", syscall_name(call.number), fmt::join(arguments, ", "), result);
}

std::optional<WrittenByte> last_byte_written(const abi::SyscallArgs& call, const GuestBytes& memory) {
  if (call.result <= 0 || call.result == abi::kParked || !memory) return std::nullopt;
  const auto fd = static_cast<std::int32_t>(call.args[0]);
  const auto written = static_cast<std::uint64_t>(call.result);
  std::optional<std::span<const std::byte>> last;
  if (call.number == SYS_write || call.number == SYS_pwrite64) {
    last = memory(call.args[1] + written - 1, 1);
  } else if (call.number == SYS_writev) {
    // The byte at offset written-1 across the iovecs.
    std::uint64_t offset = written - 1;
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(call.args[2], 1024); ++i) {
      auto entry = memory(call.args[1] + i * sizeof(iovec), sizeof(iovec));
      if (!entry) return std::nullopt;
      iovec vector{};
      std::memcpy(&vector, entry->data(), sizeof vector);
      if (offset < vector.iov_len) {
        last = memory(reinterpret_cast<std::uint64_t>(vector.iov_base) + offset, 1);
        break;
      }
      offset -= vector.iov_len;
    }
  }
  if (!last) return std::nullopt;
  return WrittenByte{fd, static_cast<char>((*last)[0])};
}

}  // namespace hyperlet
