// getpgrp, getpgid, setpgid, setsid and getsid (devices/process_groups.h).
#include "devices/process_groups.h"

#include <fmt/format.h>
#include <sys/syscall.h>

#include <cerrno>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

// 0 names the caller, as in Linux.
bool names_self(const SyscallContext& context, pid_t pid) { return pid == 0 || pid == context.process_group.pid; }

// Another process of the app (its parent or a child) whose group lives in its own VM.
std::int64_t unknown_elsewhere(SyscallContext& context, const char* call, pid_t pid) {
  if (pid > 0 && (context.children.contains(pid) || context.children.parent_host_pid(pid))) {
    context.report_denial(
        fmt::format("{} of process {}: another process's group and session are its own "
                    "microVM's, not known here",
                    call, pid));
  }
  return -ESRCH;
}

std::int64_t getpgrp_call(SyscallContext& context, const SyscallArguments&) { return context.process_group.pgid; }

std::int64_t getpgid_call(SyscallContext& context, const SyscallArguments& a) {
  const auto pid = static_cast<pid_t>(a[0]);
  if (names_self(context, pid)) return context.process_group.pgid;
  return unknown_elsewhere(context, "getpgid", pid);
}

std::int64_t getsid_call(SyscallContext& context, const SyscallArguments& a) {
  const auto pid = static_cast<pid_t>(a[0]);
  if (names_self(context, pid)) return context.process_group.sid;
  return unknown_elsewhere(context, "getsid", pid);
}

std::int64_t setpgid_call(SyscallContext& context, const SyscallArguments& a) {
  const auto pid = static_cast<pid_t>(a[0]);
  auto pgid = static_cast<pid_t>(a[1]);
  ProcessGroup& self = context.process_group;
  if (pgid < 0) return -EINVAL;
  if (!names_self(context, pid)) {
    if (pid < 0) return -ESRCH;
    // A shell also sets its child's group from the parent side (the child does
    // it itself too, and the parent ignores this answer): Linux's answer once
    // the child has exec'd.
    if (context.children.contains(pid)) return -EACCES;
    return -ESRCH;
  }
  if (pgid == 0) pgid = self.pid;
  if (self.sid == self.pid) return -EPERM;  // a session leader stays in its group
  if (pgid == self.pgid) return 0;
  if (pgid != self.pid) {
    // Another group of the session: it lives in other VMs, which this one cannot see.
    context.report_denial(
        fmt::format("setpgid into group {}: only a group of the process's own (setpgid(0, 0)) "
                    "can be joined here",
                    pgid));
    return -EPERM;
  }
  self.pgid = pgid;
  return 0;
}

std::int64_t setsid_call(SyscallContext& context, const SyscallArguments&) {
  ProcessGroup& self = context.process_group;
  if (self.pgid == self.pid) return -EPERM;  // a group leader cannot start a session
  self.sid = self.pid;
  self.pgid = self.pid;
  return self.pid;
}

}  // namespace

void register_process_group_syscalls(HostSyscallTable& table) {
  table.add(SYS_getpgrp, getpgrp_call);
  table.add(SYS_getpgid, getpgid_call);
  table.add(SYS_getsid, getsid_call);
  table.add(SYS_setpgid, setpgid_call);
  table.add(SYS_setsid, setsid_call);
}

}  // namespace hyperlet
