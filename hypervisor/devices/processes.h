// The app's child processes (fork: each is a microVM in a host process of its
// own, vm/micro_vm.cpp) and the syscalls that reach them: wait4, waitid and
// kill. A child's guest pid is its host process's pid, so these are the host's
// own calls, made only for pids this process forked: the app can never wait
// for, or signal, any other host process.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>

#include "core/unique_fd.h"

namespace hyperlet {

class ChildProcesses {
 public:
  // --processes: how many children may live at once (0: the app may not fork).
  void set_limit(unsigned limit) { limit_ = limit; }
  unsigned limit() const { return limit_; }
  bool full() const { return children_.size() >= limit_; }

  // A child forked; `pidfd` (may be invalid) becomes readable when it ends.
  void add(pid_t pid, UniqueFd pidfd);
  // Waited for: no longer this process's child.
  void remove(pid_t pid) { children_.erase(pid); }
  bool contains(pid_t pid) const { return children_.contains(pid); }
  bool empty() const { return children_.empty(); }
  std::size_t size() const { return children_.size(); }
  // The pidfds of the children a wait for `pid` (-1: any) may report.
  std::map<pid_t, UniqueFd>& all() { return children_; }
  // In a forked child: its parent's children are not its own (their pidfds close).
  void forget_all() { children_.clear(); }
  // The app ignores SIGCHLD (or set SA_NOCLDWAIT): children that ended are
  // reaped now, as Linux reaps them, and leave the table. Their count.
  int reap_ended();
  // Waits up to `timeout_ms` for a child's host process to end, then reaps
  // (for an app that ignores SIGCHLD and is at its limit: a child whose app
  // exited may still be tearing its VM down, which takes long on a slow host).
  void await_an_end(int timeout_ms);
  // Where the guest kernel says whether the app ignores SIGCHLD
  // (abi::SignalState::reap_children, in hyperlet's mapping; null: never).
  void watch_reap_flag(const volatile std::uint64_t* flag) { reap_flag_ = flag; }
  bool app_reaps() const { return reap_flag_ != nullptr && *reap_flag_ != 0; }

 private:
  unsigned limit_ = 0;
  std::map<pid_t, UniqueFd> children_;
  const volatile std::uint64_t* reap_flag_ = nullptr;
};

}  // namespace hyperlet
