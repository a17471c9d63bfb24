#include "vm/forked_child.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace hyperlet {
namespace {

std::atomic<pid_t> g_parent{0};
std::atomic<int> g_killed_by{0};
std::atomic<bool> g_quiet{false};

}  // namespace

void mark_forked_child(pid_t parent) { g_parent.store(parent); }
bool in_forked_child() { return g_parent.load() != 0; }

void note_app_killed_by(int signal, bool quiet) {
  g_killed_by.store(signal);
  g_quiet.store(quiet);
}
int app_killed_by() { return g_killed_by.load(); }
bool app_killed_quietly() { return g_quiet.load(); }

void die_of_signal(int signal) {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ::sigaction(signal, &action, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  ::pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(signal);
  ::_exit(128 + signal);  // a signal whose default action is to go on
}

}  // namespace hyperlet
