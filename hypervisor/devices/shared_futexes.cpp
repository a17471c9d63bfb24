// Futexes in memory shared with other processes (pthread_mutexattr_setpshared,
// sem_init(..., 1, ...), sem_open): the guest kernel's own futexes reach only
// its own threads, and another process is another VM. Shared memory is a host
// file's pages (memory/file_mappings.cpp), so the host's own futex on those
// pages, which Linux keys by file and offset, joins the waiters of every
// process. The guest kernel forwards only non-private futex calls on addresses
// in its shared mappings.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;
// While other app threads may run, a waiter does not block the vCPU: it is
// parked this long at most and then wakes as if woken (futex waits may wake
// spuriously; callers check their word again), so a wake from another
// process is seen within this.
constexpr std::int64_t kParkedPollNs = 1'000'000;

std::int64_t nanoseconds(const timespec& time) { return time.tv_sec * kNanosPerSecond + time.tv_nsec; }

// A waiter in this process while others may run: answered now, or parked.
std::int64_t wait_parked(SyscallContext& context, const std::uint32_t* word, std::uint32_t expected, int command,
                         int op, const std::optional<timespec>& timeout) {
  if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != expected) return -EAGAIN;
  std::int64_t left = kParkedPollNs;
  std::int64_t answer = 0;
  if (timeout) {
    std::int64_t until = nanoseconds(*timeout);
    if (command == FUTEX_WAIT_BITSET) {  // absolute, on the clock the op names
      timespec now{};
      ::clock_gettime((op & FUTEX_CLOCK_REALTIME) != 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
      until -= nanoseconds(now);
    }
    if (until <= 0) return -ETIMEDOUT;
    if (until <= left) {
      left = until;
      answer = -ETIMEDOUT;
    }
  }
  context.park = ParkRequest{{}, static_cast<std::uint64_t>(left), answer};
  return 0;
}

std::int64_t shared_futex(SyscallContext& context, const SyscallArguments& a) {
  const std::uint64_t address = a[0];
  const int op = static_cast<int>(a[1]);
  const int command = op & FUTEX_CMD_MASK;
  if ((op & FUTEX_PRIVATE_FLAG) != 0) return -EINVAL;  // the guest kernel answers those
  if (address % sizeof(std::uint32_t) != 0) return -EINVAL;
  // (A read-only file's pages are private on the host: its waiters are this
  // process's own, which is all a read-only mapping can share here anyway.)
  if (context.file_mappings.find(address) == nullptr) return -EINVAL;
  auto bytes = context.user_span(address, sizeof(std::uint32_t));
  if (!bytes) return -EFAULT;
  auto* word = reinterpret_cast<std::uint32_t*>(bytes->data());
  const auto value = static_cast<std::uint32_t>(a[2]);
  switch (command) {
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
      const std::uint32_t bitset = command == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY : static_cast<std::uint32_t>(a[5]);
      if (bitset == 0) return -EINVAL;
      const long woken = ::syscall(SYS_futex, word, FUTEX_WAKE_BITSET, value, nullptr, nullptr, bitset);
      return woken < 0 ? -errno : woken;
    }
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
      const std::uint32_t bitset = command == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : static_cast<std::uint32_t>(a[5]);
      if (bitset == 0) return -EINVAL;
      std::optional<timespec> timeout;
      if (a[3] != 0) {
        timeout = context.read<timespec>(a[3]);
        if (!timeout) return -EFAULT;
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= kNanosPerSecond) return -EINVAL;
      }
      if (context.may_park) return wait_parked(context, word, value, command, op, timeout);
      // The app's only thread: this vCPU waits on the host, and a signal ends the wait.
      const long waited = ::syscall(SYS_futex, word, op, value, timeout ? &*timeout : nullptr, nullptr, a[5]);
      if (waited == 0) return 0;
      if (errno == EINTR) context.interrupted = true;
      return -errno;
    }
    default:
      return -ENOSYS;
  }
}

}  // namespace

void register_shared_futex_syscalls(HostSyscallTable& table) { table.add(SYS_futex, shared_futex); }

}  // namespace hyperlet
