// A hyperlet process that a fork of the app made (vm/micro_vm.cpp: kFork):
// it ends as the app's process would, so that the parent's wait4 sees what
// Linux shows: an exit status, or death by the app's fatal signal.
#pragma once

#include <sys/types.h>

namespace hyperlet {

// This process is a forked child of `parent` (its host pid).
void mark_forked_child(pid_t parent);
bool in_forked_child();

// The app ended by `signal` (killed, or stopped by a signal sent to hyperlet).
// `quiet`: what a parent's kill does, which prints nothing natively.
void note_app_killed_by(int signal, bool quiet);
int app_killed_by();
bool app_killed_quietly();

// Ends this process by `signal` with its default action (no core file).
[[noreturn]] void die_of_signal(int signal);

}  // namespace hyperlet
