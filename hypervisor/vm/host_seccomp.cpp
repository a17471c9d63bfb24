#include "vm/host_seccomp.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "core/exit_status.h"
#include "core/message_prefix.h"

namespace hyperlet {
namespace {

// The program, compiled at build time from hypervisor/tools/seccomp_filter_generator.cpp,
// where the rules and the reasons for them are.
const sock_filter kFilter[] = {
#include "host_seccomp_filter.inc"
};
// The same and what forking needs, for a run that may fork (--processes).
const sock_filter kProcessesFilter[] = {
#include "host_processes_seccomp_filter.inc"
};

void write_all(const char* text) {
  std::size_t length = std::strlen(text);
  while (length > 0) {
    const ssize_t written = ::write(STDERR_FILENO, text, length);
    if (written <= 0) return;
    text += written;
    length -= static_cast<std::size_t>(written);
  }
}

// SIGSYS from the filter: say which syscall, then end (async-signal-safe only).
void on_blocked_syscall(int, siginfo_t* info, void*) {
  char number[24];
  char* digit = number + sizeof number;
  *--digit = '\0';
  unsigned value = static_cast<unsigned>(info->si_syscall);
  do {
    *--digit = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  write_all(message_prefix().c_str());
  write_all(": the host's seccomp filter stopped hyperlet's own syscall ");
  write_all(digit);
  write_all(" (a hyperlet bug, please report it; `hyperlet run --no-seccomp` runs without the filter)\n");
  ::_exit(to_int(ExitStatus::kUsage));
}

}  // namespace

Result<void> restrict_host_syscalls(bool processes) {
  struct sigaction action {};
  action.sa_sigaction = on_blocked_syscall;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSYS, &action, nullptr) != 0) {
    return fail(ExitStatus::kUsage, "cannot install the seccomp report handler: {}", std::strerror(errno));
  }
  // Required to install a filter without CAP_SYS_ADMIN; hyperlet never execs anyway.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return fail(ExitStatus::kUsage, "prctl(PR_SET_NO_NEW_PRIVS) failed: {}", std::strerror(errno));
  }
  const sock_fprog program = processes ? sock_fprog{static_cast<unsigned short>(std::size(kProcessesFilter)),
                                                    const_cast<sock_filter*>(kProcessesFilter)}
                                        : sock_fprog{static_cast<unsigned short>(std::size(kFilter)),
                                                     const_cast<sock_filter*>(kFilter)};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program) != 0) {
    return fail(ExitStatus::kUsage, "cannot install the host's seccomp filter: {}", std::strerror(errno));
  }
  return {};
}

}  // namespace hyperlet
