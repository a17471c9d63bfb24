// getrandom from the host's entropy.
#include <sys/random.h>
#include <sys/syscall.h>

#include <cerrno>

#include "devices/host_syscalls.h"

namespace hyperlet {

void register_random_syscalls(HostSyscallTable& table) {
  table.add(SYS_getrandom, [](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    if ((a[2] & ~static_cast<std::uint64_t>(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE)) != 0) {
      return -EINVAL;
    }
    auto buffer = context.user_span(a[0], a[1]);
    if (!buffer) return -EFAULT;
    const ssize_t filled = ::getrandom(buffer->data(), buffer->size(), static_cast<unsigned>(a[2]));
    return filled < 0 ? -errno : filled;
  });
}

}  // namespace hyperlet
