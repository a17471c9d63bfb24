#include "vm/syscall_arity.h"

#include <sys/syscall.h>

#include <algorithm>
#include <array>
#include <utility>

#include <hyperlet/abi.h>
#include <hyperlet/file_ring.h>
#include <hyperlet/socket_buffers.h>

namespace hyperlet {
namespace {

constexpr std::array<std::pair<std::uint64_t, int>, 125> kArity = {{
    {SYS_read, 3}, {SYS_write, 3}, {SYS_open, 3}, {SYS_close, 1}, {SYS_stat, 2}, {SYS_fstat, 2},
    {SYS_lstat, 2}, {SYS_poll, 3}, {SYS_lseek, 3}, {SYS_mmap, 6}, {SYS_mprotect, 3}, {SYS_munmap, 2},
    {SYS_brk, 1}, {SYS_rt_sigaction, 4}, {SYS_rt_sigprocmask, 4}, {SYS_ioctl, 3}, {SYS_pread64, 4},
    {SYS_pwrite64, 4}, {SYS_readv, 3}, {SYS_writev, 3}, {SYS_access, 2}, {SYS_pipe, 1}, {SYS_select, 5},
    {SYS_sched_yield, 0}, {SYS_mremap, 5}, {SYS_msync, 3}, {SYS_madvise, 3}, {SYS_dup, 1}, {SYS_dup2, 2},
    {SYS_nanosleep, 2}, {SYS_getpid, 0}, {SYS_socket, 3}, {SYS_connect, 3}, {SYS_accept, 3},
    {SYS_sendto, 6}, {SYS_recvfrom, 6}, {SYS_sendmsg, 3}, {SYS_recvmsg, 3}, {SYS_shutdown, 2},
    {SYS_bind, 3}, {SYS_listen, 2}, {SYS_getsockname, 3}, {SYS_getpeername, 3}, {SYS_setsockopt, 5},
    {SYS_getsockopt, 5}, {SYS_clone, 5}, {SYS_exit, 1}, {SYS_kill, 2}, {SYS_uname, 1}, {SYS_fcntl, 3},
    {SYS_fsync, 1}, {SYS_fdatasync, 1}, {SYS_truncate, 2}, {SYS_ftruncate, 2}, {SYS_getcwd, 2},
    {SYS_chdir, 1}, {SYS_rename, 2}, {SYS_mkdir, 2}, {SYS_rmdir, 1}, {SYS_unlink, 1}, {SYS_readlink, 3},
    {SYS_umask, 1}, {SYS_gettimeofday, 2}, {SYS_getrlimit, 2}, {SYS_getuid, 0}, {SYS_getgid, 0},
    {SYS_geteuid, 0}, {SYS_getegid, 0}, {SYS_getppid, 0}, {SYS_sigaltstack, 2}, {SYS_arch_prctl, 2},
    {SYS_gettid, 0}, {SYS_time, 1}, {SYS_futex, 6}, {SYS_getdents64, 3}, {SYS_set_tid_address, 1},
    {SYS_clock_gettime, 2}, {SYS_clock_getres, 2}, {SYS_clock_nanosleep, 4}, {SYS_exit_group, 1},
    {SYS_epoll_wait, 4}, {SYS_epoll_ctl, 4}, {SYS_tgkill, 3}, {SYS_openat, 4}, {SYS_mkdirat, 3},
    {SYS_newfstatat, 4}, {SYS_unlinkat, 3}, {SYS_renameat, 4}, {SYS_readlinkat, 4}, {SYS_faccessat, 3},
    {SYS_pselect6, 6}, {SYS_ppoll, 5}, {SYS_set_robust_list, 2}, {SYS_epoll_pwait, 6},
    {SYS_eventfd2, 2}, {SYS_epoll_create1, 1}, {SYS_dup3, 3}, {SYS_pipe2, 2}, {SYS_prlimit64, 4},
    {SYS_statfs, 2}, {SYS_fstatfs, 2}, {SYS_chown, 3}, {SYS_fchown, 3}, {SYS_lchown, 3},
    {SYS_fchownat, 5}, {SYS_copy_file_range, 6}, {SYS_socketpair, 4}, {SYS_sendmmsg, 4},
    {SYS_recvmmsg, 5}, {SYS_alarm, 1}, {SYS_setitimer, 3}, {SYS_getitimer, 2}, {SYS_timer_create, 3},
    {SYS_timer_settime, 4}, {SYS_timer_gettime, 2}, {SYS_timer_getoverrun, 1}, {SYS_timer_delete, 1},
    {SYS_rt_sigqueueinfo, 3}, {SYS_rt_tgsigqueueinfo, 4}, {SYS_rt_sigtimedwait, 4}, {SYS_signalfd, 3},
    {SYS_signalfd4, 4}, {SYS_pause, 0}, {SYS_getrusage, 2}, {SYS_times, 1},
}};

}  // namespace

std::optional<int> syscall_arity(std::uint64_t number) {
  if (number == abi::kSyscallReady) return 0;
  if (number == abi::kSyscallSocketBuffers || number == abi::kSyscallFileRing) return 2;
  if (number == abi::kSyscallFileRingKick) return 0;
  if (number == abi::kSyscallSignalfd) return 1;
  if (number == abi::kSyscallSignalfdReady) return 2;
  static const auto sorted = [] {
    auto table = kArity;
    std::sort(table.begin(), table.end());
    return table;
  }();
  auto it = std::lower_bound(sorted.begin(), sorted.end(), std::pair<std::uint64_t, int>{number, -1});
  if (it == sorted.end() || it->first != number) return std::nullopt;
  return it->second;
}

}  // namespace hyperlet
