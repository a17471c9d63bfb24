// Process groups and sessions: getpgrp, getpgid, setpgid, setsid and getsid.
// Each process (a microVM in a hyperlet process of its own) keeps its own pid,
// group and session here, on the host, so that they survive an execve (the
// guest kernel starts afresh) and a fork copies them (the host process forks).
// The run's first process is pid 1 and leads group 1 and session 1, as a
// container's first process does; a forked child starts in its parent's group
// and session, and a daemon's fork-then-setsid leads a new session of its own.
//
// What one process cannot know here is another's group (they are separate VMs
// with separate state): getpgid and getsid of another process, and joining a
// group other than one's own, are refused (ESRCH, EPERM) with a denial line
// rather than answered with a guess.
#pragma once

#include <sys/types.h>

namespace hyperlet {

struct ProcessGroup {
  pid_t pid = 1;  // this process's guest pid
  pid_t pgid = 1;
  pid_t sid = 1;
};

class HostSyscallTable;
void register_process_group_syscalls(HostSyscallTable& table);

}  // namespace hyperlet
