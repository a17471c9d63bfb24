// Futexes in memory shared with other processes (pthread_mutexattr_setpshared,
// sem_init(..., 1, ...), sem_open): the guest kernel's own futexes reach only
// its own threads, and another process is another VM. Shared memory is a host
// file's pages (memory/file_mappings.cpp), so the host's own futex on those
// pages, which Linux keys by file and offset, joins the waiters of every
// process. The guest kernel forwards only non-private futex calls on addresses
// in its shared mappings.
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <optional>

#include "core/guest_timeouts.h"
#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

// While other app threads may run (or a timer or signal may need the vCPU), a
// waiter does not block the vCPU: it is parked, and looks at its word again
// each time a 1 ms tick wakes it, until the word differs (EAGAIN: its caller
// looks again, as after any wake-up), its timeout passes or a signal ends the
// wait, as a parked call's does. A wake from another process changes the word
// first (semaphores, mutexes, condition variables do), so it is seen within the
// tick; a wake that leaves the word as it was is not seen by a parked waiter.
constexpr long kTickNs = 1'000'000;

// The tick: a timerfd of this host process (a forked child makes its own),
// armed for one expiry whenever a waiter parks and it is not armed already, so
// that parking waiters cannot keep pushing it away. -1 if it cannot be made.
int tick_fd() {
  static std::mutex mutex;
  static int fd = -1;
  static pid_t owner = 0;
  std::lock_guard lock(mutex);
  if (fd >= 0 && owner != ::getpid()) {
    ::close(fd);  // the parent's, which a fork left here
    fd = -1;
  }
  if (fd < 0) {
    fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    owner = ::getpid();
    if (fd < 0) return -1;
  }
  std::uint64_t expirations = 0;
  if (::read(fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) return -1;
  itimerspec current{};
  if (::timerfd_gettime(fd, &current) != 0) return -1;
  if (current.it_value.tv_sec == 0 && current.it_value.tv_nsec == 0) {
    const itimerspec once{{0, 0}, {0, kTickNs}};
    if (::timerfd_settime(fd, 0, &once, nullptr) != 0) return -1;
  }
  return fd;
}

// A waiter in this process while others may run: answered now, or parked.
std::int64_t wait_parked(SyscallContext& context, const std::uint32_t* word, std::uint32_t expected, int command,
                         int op, const std::optional<timespec>& timeout) {
  if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != expected) return -EAGAIN;
  std::optional<std::uint64_t> left;
  if (timeout) {
    std::int64_t until = saturating_nanoseconds(*timeout);
    if (command == FUTEX_WAIT_BITSET) {  // absolute, on the clock the op names
      timespec now{};
      ::clock_gettime((op & FUTEX_CLOCK_REALTIME) != 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
      until -= saturating_nanoseconds(now);
    }
    if (until <= 0) return -ETIMEDOUT;
    left = static_cast<std::uint64_t>(until);  // the guest counts it from the first park
  }
  const int tick = tick_fd();
  if (tick < 0) return -errno;
  context.park = ParkRequest{{pollfd{tick, POLLIN, 0}}, left, -ETIMEDOUT};
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
