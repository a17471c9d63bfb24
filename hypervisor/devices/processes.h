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
#include <optional>
#include <vector>

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
  // In a forked child: its parent as the app knows it (guest pid; 1 for the
  // run's first process) and the host pid of the parent's hyperlet. kill of
  // the parent signals that hyperlet, which hands the signal to its app as it
  // does one sent from outside (vm/stop_signals.h).
  void set_parent(pid_t guest_pid, pid_t host_pid) { parent_ = Parent{guest_pid, host_pid}; }
  // A signal's sender as the app knows it: its parent (the run's first process
  // is 1), a child (the same pid on the host), or 0 for any other host process.
  pid_t guest_pid_of(pid_t host_pid) const {
    if (host_pid <= 0) return 0;
    if (parent_ && parent_->host_pid == host_pid) return parent_->guest_pid;
    return contains(host_pid) ? host_pid : 0;
  }
  // The parent's hyperlet when `guest_pid` is the app's parent.
  std::optional<pid_t> parent_host_pid(pid_t guest_pid) const {
    if (parent_ && parent_->guest_pid == guest_pid) return parent_->host_pid;
    return std::nullopt;
  }
  // The host pids of the parent's hyperlet (if any) and the children's: the
  // processes a group signal spreads to from here.
  std::vector<pid_t> neighbours() const;
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
  struct Parent {
    pid_t guest_pid;
    pid_t host_pid;
  };
  unsigned limit_ = 0;
  std::map<pid_t, UniqueFd> children_;
  std::optional<Parent> parent_;
  const volatile std::uint64_t* reap_flag_ = nullptr;
};

class SyscallContext;
struct GroupSignal;
// A group signal (vm/app_signals.h) that this process sends (`from` 0) or
// received from the hyperlet `from`: passed on to every neighbour but `from`.
// Whether this process is in the group, so that its app takes the signal too.
bool spread_group_signal(const SyscallContext& context, const GroupSignal& group, pid_t from);

}  // namespace hyperlet
