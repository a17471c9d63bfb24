// What ends a run from outside: SIGALRM (--timeout), SIGINT or SIGTERM (the
// user). The handlers are installed when hyperlet starts, before anything else,
// so a stop signal is never lost, wherever it lands: before the run loop it is
// recorded and the start-up stops at its next step (MicroVm checks between
// steps), with the same status (128 + signal), line and --stats as during the
// run. (A background job of a non-interactive shell starts with SIGINT
// ignored, so before the handler existed an early Ctrl-C or `kill -INT` was
// silently dropped, and the app then ran on.)
//
// During the run the signal interrupts KVM_RUN and blocking host calls (no
// SA_RESTART); immediate_exit covers the window where it arrives between runs;
// after it the stop timer repeats every 10 ms, since a blocking host call (a
// sleep, a poll, a read of stdin) that began just after the first signal would
// otherwise never end.
#pragma once

#include <linux/kvm.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "vm/app_signals.h"

namespace hyperlet {

// Signals for the app: SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 go to the
// app instead of stopping it when it has set an action for them (a handler, or
// SIG_IGN): the guest kernel keeps that set in abi::SignalState::handled, which
// the handler reads through g_app_signal_state. The handler ORs the signal
// into g_app_signals and makes KVM_RUN return; the run loop hands it to the
// guest kernel (SignalState::from_host and an injected kPreemptVector). A
// blocking host call the signal interrupts answers EINTR, which the guest
// kernel turns into EINTR or a restart (SA_RESTART) around the handler.
// The first SIGTERM the app takes starts --stop-timeout (as `docker stop`):
// when it runs out the VM is stopped as by a SIGTERM it does not handle.
// SIGCHLD (a child process ended, devices/processes.h) goes to an app that
// has a handler for it, never stops it, and sets g_children_changed.
// kAppSignals and kRelayedAppSignal: vm/app_signals.h. The latter carries any
// other signal from another of the app's processes: it goes to the app
// whatever its action.
// Set by SIGCHLD: a child process ended or stopped (the run loop reaps it when
// the app ignores SIGCHLD).
extern std::atomic<bool> g_children_changed;
// Bit N-1: signal N arrived for the app and is not yet in guest memory.
extern std::atomic<std::uint64_t> g_app_signals;

// What siginfo will say of a signal for the app (abi::HostSignalInfo), as
// received: `sender` is a host pid (0: from outside the app), mapped to the
// app's pids when it goes into guest memory.
struct AppSignalInfo {
  int code = SI_USER;
  pid_t sender = 0;
  int status = 0;
  bool sender_is_guest_pid = false;  // a group signal names its sender as the app knows it
};
// Async-signal-safe: sets signal N's bit in g_app_signals, with `info` unless
// an earlier instance still waits there (standard signals coalesce, and the
// first one's siginfo is the one Linux keeps).
void signal_for_app(int signal, const AppSignalInfo& info);
// Signal N's info, read after its bit was taken from g_app_signals.
AppSignalInfo app_signal_info(int signal);
// The host address of the guest's abi::SignalState (null outside a run loop).
extern std::atomic<const volatile std::uint64_t*> g_app_signal_state;
// Set when --stop-timeout ran out after a SIGTERM the app took.
extern std::atomic<bool> g_stop_timeout_expired;
// --stop-timeout: how long the app may take to exit after a SIGTERM it handles (default 10 s).
void set_stop_timeout(std::chrono::nanoseconds timeout);

// The first stop signal received (0: none); set by the handler only.
extern std::atomic<int> g_stop_signal;
// The vCPU in KVM_RUN, whose immediate_exit the handler sets.
extern std::atomic<kvm_run*> g_running_vcpu;

// A group signal (vm/app_signals.h) that reached this hyperlet: what it says
// and the host pid it came from, to spread and hand to the app on the main
// thread's run loop.
struct ReceivedGroupSignal {
  std::uint64_t value = 0;
  pid_t from = 0;
};
// Those received since the last call (main thread only; at most 64 wait, more are dropped).
std::vector<ReceivedGroupSignal> take_group_signals();
bool group_signals_waiting();

// Installs the handlers and the stop timer once per process (later calls do
// nothing); the timer lives until the process exits.
Result<void> install_stop_signals();

// In a forked child: the stop, grace and kick timers again (POSIX timers are
// not inherited); a stop, app or group signal its parent got is not its own.
Result<void> install_stop_signals_after_fork();

// Starts --timeout: SIGALRM after `timeout`, then every 10 ms.
void arm_stop_deadline(std::chrono::nanoseconds timeout);

// Stops the timer (the run is over): its SIGALRMs would interrupt the writes of
// the --stats and the last line with EINTR.
void disarm_stop_timer();
// The run loop put g_app_signals into guest memory: no more kicks (the
// repeating SIGALRM that interrupts a host call a signal for the app landed
// just before; stop_signals.cpp).
void stop_app_signal_kicks();

// The error a stop by SIGINT, SIGTERM (or an outside SIGALRM when there is no
// --timeout) ends the run with: status 128 + signal, "stopped by SIGINT".
Error stopped_by_signal_error(int signal);

// Test hook, for the integration tests only: with HYPERLET_TEST_SIGNAL_AT=STEP:SIG
// in hyperlet's environment (never the app's), hyperlet sends itself SIG (INT,
// TERM or KILL) when start-up reaches STEP, exactly as if it came from outside
// there. Steps, in order: options (run begins), image (opened, laid out), kvm (VM,
// vCPU, teardown reaper, syscall entry), guest (written; next: the run loop).
void signal_self_at_startup_step_for_tests(std::string_view step);

}  // namespace hyperlet
