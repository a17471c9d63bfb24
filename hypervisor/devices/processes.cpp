// wait4, waitid and kill for the app's children (devices/processes.h).
#include "devices/processes.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "devices/host_syscalls.h"
#include "vm/app_signals.h"

namespace hyperlet {

void ChildProcesses::add(pid_t pid, UniqueFd pidfd) { children_[pid] = std::move(pidfd); }

std::vector<pid_t> ChildProcesses::neighbours() const {
  std::vector<pid_t> pids;
  if (parent_) pids.push_back(parent_->host_pid);
  for (const auto& [pid, pidfd] : children_) pids.push_back(pid);
  return pids;
}

bool spread_group_signal(const SyscallContext& context, const GroupSignal& group, pid_t from) {
  sigval value{};
  value.sival_ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(encode_group_signal(group)));
  for (const pid_t neighbour : context.children.neighbours()) {
    // One that ended meanwhile is simply not reached.
    if (neighbour != from) ::sigqueue(neighbour, kRelayedAppSignal, value);
  }
  // kill(-1) reaches every process but the run's first and the sender (Linux: init and the caller).
  if (group.every) return from != 0 && context.process_group.pid != 1;
  return context.process_group.pgid == group.pgid;
}

void ChildProcesses::await_an_end(int timeout_ms) {
  std::vector<pollfd> ends;
  for (const auto& [pid, pidfd] : children_) {
    if (pidfd.valid()) ends.push_back(pollfd{pidfd.get(), POLLIN, 0});
  }
  if (!ends.empty()) ::poll(ends.data(), ends.size(), timeout_ms);
  reap_ended();
}

int ChildProcesses::reap_ended() {
  int reaped = 0;
  for (auto child = children_.begin(); child != children_.end();) {
    int status = 0;
    if (::waitpid(child->first, &status, WNOHANG) == child->first && (WIFEXITED(status) || WIFSIGNALED(status))) {
      child = children_.erase(child);
      ++reaped;
    } else {
      ++child;
    }
  }
  return reaped;
}

namespace {

// The options wait4 and waitid take from the app; __WALL and __WCLONE are
// dropped on the way to the host (a host process's clones are hyperlet's own).
constexpr int kWait4Options = WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE | __WNOTHREAD;
constexpr int kWaitidOptions = WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | __WALL | __WCLONE | __WNOTHREAD;
constexpr int kHostOnlyOptions = __WALL | __WCLONE;

// Which host pid a wait for the app's `pid` asks the host about: its child, or
// any (-1) for -1 and the process groups (all the app's children share its group).
// nullopt: nothing the app may wait for (ECHILD).
std::optional<pid_t> wait_target(const ChildProcesses& children, pid_t pid) {
  if (children.empty()) return std::nullopt;
  if (pid > 0) return children.contains(pid) ? std::optional(pid) : std::nullopt;
  return -1;
}

// A blocking wait made while other app threads could run: park on the pidfds
// of the children it may report instead (the guest makes the call again when
// one of them ends). False when one has no pidfd: then the call blocks.
bool park_on_children(SyscallContext& context, pid_t target) {
  ParkRequest request;
  for (auto& [pid, pidfd] : context.children.all()) {
    if (target != -1 && pid != target) continue;
    if (!pidfd.valid()) return false;
    request.wait.push_back(pollfd{pidfd.get(), POLLIN, 0});
  }
  if (request.wait.empty()) return false;
  context.park = std::move(request);
  return true;
}

// The app ignores SIGCHLD: its children are reaped as they end and a wait
// reports none of them; it waits until every child it names has ended, then
// answers ECHILD (WNOHANG: 0 while one lives), as Linux does.
std::int64_t wait_while_reaping(SyscallContext& context, pid_t pid, int options) {
  context.children.reap_ended();
  for (;;) {
    const std::optional<pid_t> target = wait_target(context.children, pid);
    if (!target) return -ECHILD;
    if ((options & WNOHANG) != 0) return 0;
    if (context.may_park && park_on_children(context, *target)) return 0;
    int status = 0;
    const pid_t reported = ::wait4(*target, &status, 0, nullptr);
    if (reported < 0) {
      if (errno == EINTR) context.interrupted = true;
      return -errno;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) context.children.remove(reported);
  }
}

std::int64_t wait4_call(SyscallContext& context, const SyscallArguments& a) {
  const auto pid = static_cast<pid_t>(a[0]);
  const std::uint64_t status_address = a[1];
  const auto options = static_cast<int>(a[2]);
  const std::uint64_t usage_address = a[3];
  if ((options & ~kWait4Options) != 0 || pid == INT32_MIN) return -EINVAL;
  if (status_address != 0 && !context.user_span(status_address, sizeof(int))) return -EFAULT;
  if (usage_address != 0 && !context.user_span(usage_address, sizeof(rusage))) return -EFAULT;
  if (context.children.app_reaps()) return wait_while_reaping(context, pid, options);
  const std::optional<pid_t> target = wait_target(context.children, pid);
  if (!target) return -ECHILD;
  const int host_options = options & ~kHostOnlyOptions;
  int status = 0;
  rusage usage{};
  pid_t reported = ::wait4(*target, &status, host_options | (context.may_park ? WNOHANG : 0), &usage);
  if (reported == 0 && context.may_park && (options & WNOHANG) == 0) {
    if (park_on_children(context, *target)) return 0;
    reported = ::wait4(*target, &status, host_options, &usage);
  }
  if (reported < 0) {
    if (errno == EINTR) context.interrupted = true;
    return -errno;
  }
  if (reported == 0) return 0;
  if (WIFEXITED(status) || WIFSIGNALED(status)) context.children.remove(reported);
  if (status_address != 0) context.write(status_address, status);
  if (usage_address != 0) context.write(usage_address, usage);
  return reported;
}

std::int64_t waitid_call(SyscallContext& context, const SyscallArguments& a) {
  const auto type = static_cast<idtype_t>(a[0]);
  const auto id = static_cast<pid_t>(a[1]);
  const std::uint64_t info_address = a[2];
  const auto options = static_cast<int>(a[3]);
  const std::uint64_t usage_address = a[4];
  if ((options & ~kWaitidOptions) != 0 || (options & (WEXITED | WSTOPPED | WCONTINUED)) == 0) return -EINVAL;
  pid_t pid = -1;
  if (type == P_PID) {
    if (id <= 0) return -EINVAL;
    pid = id;
  } else if (type != P_ALL && type != P_PGID) {
    return -EINVAL;  // P_PIDFD: the app has no pidfds
  }
  if (info_address != 0 && !context.user_span(info_address, sizeof(siginfo_t))) return -EFAULT;
  if (usage_address != 0 && !context.user_span(usage_address, sizeof(rusage))) return -EFAULT;
  if (context.children.app_reaps()) return wait_while_reaping(context, pid, options & WNOHANG);
  const std::optional<pid_t> target = wait_target(context.children, pid);
  if (!target) return -ECHILD;
  const int host_options = options & ~kHostOnlyOptions;
  siginfo_t info{};
  rusage usage{};
  const idtype_t host_type = *target == -1 ? P_ALL : P_PID;
  const id_t host_id = *target == -1 ? 0 : static_cast<id_t>(*target);
  long done = ::syscall(SYS_waitid, host_type, host_id, &info, host_options | (context.may_park ? WNOHANG : 0), &usage);
  if (done == 0 && info.si_pid == 0 && context.may_park && (options & WNOHANG) == 0) {
    if (park_on_children(context, *target)) return 0;
    done = ::syscall(SYS_waitid, host_type, host_id, &info, host_options, &usage);
  }
  if (done < 0) {
    if (errno == EINTR) context.interrupted = true;
    return -errno;
  }
  if (info.si_pid != 0 && (options & WNOWAIT) == 0 &&
      (info.si_code == CLD_EXITED || info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED)) {
    context.children.remove(info.si_pid);
  }
  if (info_address != 0) context.write(info_address, info);
  if (usage_address != 0) context.write(usage_address, usage);
  return 0;
}

// Sends `signal` to another of the app's processes, the hyperlet with pid
// `host_pid`. The signals a hyperlet hands to its app as themselves
// (kAppSignals), SIGKILL, SIGSTOP and 0 go so; any other inside
// kRelayedAppSignal (vm/app_signals.h), since as itself it would reach
// hyperlet, not the app; SIGCONT both ways: it continues a stopped hyperlet
// and reaches the app's handler.
std::int64_t send_to_process(pid_t host_pid, int signal) {
  const bool as_itself = signal == 0 || signal == SIGKILL || signal == SIGSTOP || signal == SIGCONT ||
                         (kAppSignals & (std::uint64_t{1} << (signal - 1))) != 0;
  if (as_itself && ::kill(host_pid, signal) != 0) return -errno;
  if (as_itself && signal != SIGCONT) return 0;
  sigval value{};
  value.sival_int = signal;
  return ::sigqueue(host_pid, kRelayedAppSignal, value) == 0 ? 0 : -errno;
}

// kill of a group (0: the caller's; -PGID) or of every process (-1), which
// the guest kernel passes on: answers 1 when this process is one of them (its
// guest kernel signals it), 0 when only others are, -ESRCH when there is no
// other process at all and this one is not one of them.
std::int64_t kill_group(SyscallContext& context, pid_t pid, int signal) {
  if (pid == std::numeric_limits<pid_t>::min()) return -ESRCH;  // -pid would overflow; Linux: ESRCH
  const GroupSignal group{signal, pid == 0 ? context.process_group.pgid : -pid, pid == -1, context.process_group.pid};
  const bool others = !context.children.neighbours().empty();
  const bool self =
      signal == 0 ? (!group.every && context.process_group.pgid == group.pgid) : spread_group_signal(context, group, 0);
  if (!self && !others) return -ESRCH;
  return self ? 1 : 0;
}

// kill of another process (the guest kernel answers kill of its own): a child
// of this process, which is the host process of that pid, or the parent; or
// of a group.
std::int64_t kill_call(SyscallContext& context, const SyscallArguments& a) {
  const auto pid = static_cast<pid_t>(a[0]);
  const auto signal = static_cast<int>(a[1]);
  if (signal < 0 || signal > 64) return -EINVAL;
  if (pid <= 0) return kill_group(context, pid, signal);
  if (const auto parent = context.children.parent_host_pid(pid)) return send_to_process(*parent, signal);
  if (!context.children.contains(pid)) return -ESRCH;
  return send_to_process(pid, signal);
}

}  // namespace

void register_process_syscalls(HostSyscallTable& table) {
  table.add(SYS_wait4, wait4_call);
  table.add(SYS_waitid, waitid_call);
  table.add(SYS_kill, kill_call);
}

}  // namespace hyperlet
