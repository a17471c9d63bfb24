// Signal state shared by the signal syscalls (syscalls/signals.cpp) and the
// delivery machinery (signal_delivery.cpp): dispositions for the process, a
// mask, pending set and alternate stack per thread (indexed by the thread's
// slot in threads.cpp), a process-wide pending set (kill, signals sent to
// hyperlet), and the `attention` word in abi::SignalState that entry.S tests on
// every return to ring 3.
#pragma once

#include <hyperlet/abi.h>
#include <stdint.h>

#include "trap_frame.h"

namespace hyperlet::kernel {

inline constexpr uint64_t kSignalCount = 64;
inline constexpr uint64_t kSigKill = 9;
inline constexpr uint64_t kSigStop = 19;
inline constexpr uint64_t kSigDefault = 0;  // SIG_DFL
inline constexpr uint64_t kSigIgnore = 1;   // SIG_IGN
inline constexpr uint64_t kUnblockable = (1ull << (kSigKill - 1)) | (1ull << (kSigStop - 1));

// Linux's kernel-internal "restart this syscall" results; never seen by the app.
inline constexpr int64_t kRestartSys = 512;     // ERESTARTSYS: restart unless a handler without SA_RESTART runs
inline constexpr int64_t kRestartNoHand = 514;  // ERESTARTNOHAND: restart only if no handler runs

// TrapFrame.vector of a frame the syscall return path built (entry.S).
inline constexpr uint64_t kSyscallFrameMarker = 0x100;

constexpr uint64_t signal_bit(uint64_t signal) { return 1ull << (signal - 1); }

struct KernelSigaction {
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

struct SignalStack {
  uint64_t sp;
  int32_t flags;
  int32_t pad;
  uint64_t size;
};

inline constexpr uint64_t kFirstRealtimeSignal = 32;  // SIGRTMIN..SIGRTMAX (64) queue; the others do not

// What siginfo carries for a signal that waits in a pending set: Linux's
// x86-64 siginfo words at offsets 16, 20 and 24, whichever union member they
// belong to (kill: pid, uid; sigqueue: pid, uid, value; timer: id, overrun, value).
struct PendingInfo {
  int32_t code;    // SI_USER, SI_TKILL, SI_QUEUE, SI_TIMER, SI_KERNEL
  int32_t pid;     // sender: 1 (the app), or 0 (from outside: sent to hyperlet); a timer's id
  int32_t uid;     // a timer's overrun, filled in when the signal is taken
  int32_t timer;   // 1 + the timer's slot (syscalls/timers.cpp) for SI_TIMER, else 0
  uint64_t value;  // si_value (sigqueue, timers)
};

struct ThreadSignals {
  uint64_t blocked;
  uint64_t pending;
  SignalStack alternate_stack;  // size 0: none (SS_DISABLE); flags: SS_AUTODISARM or 0
  uint64_t restart_number;      // the syscall to restart when its result is kRestartSys/NoHand
  // A relative sleep in progress (syscalls/sleep_restart.cpp): its deadline
  // (kvmclock ns; 0: none) and where its time left goes.
  uint64_t sleep_deadline_ns;
  uint64_t sleep_time_left_out;
  bool sigreturn_requested;     // rt_sigreturn: the return path restores the frame at rsp
  bool restart_armed;           // restart_number is meaningful
  uint64_t waiting_for;         // rt_sigtimedwait's set while it waits: taken although blocked
  bool mask_saved;              // rt_sigsuspend: saved_mask goes into the handler's frame, then back
  uint64_t saved_mask;
  // 1 + the slot of a thread this one just cloned: it starts once this
  // thread's return path has its callee-saved registers (threads.cpp). 0: none.
  int32_t child_awaiting_registers;
  PendingInfo info[kFirstRealtimeSignal];  // standard signals' (real-time ones queue: signal_queue.cpp)
};

struct ProcessSignals {
  KernelSigaction actions[kSignalCount + 1];
  uint64_t pending;
  PendingInfo info[kFirstRealtimeSignal];
};

extern ProcessSignals process_signals;
ThreadSignals& thread_signals(int slot);
ThreadSignals& current_signals();

inline volatile abi::SignalState& shared_signal_state() {
  return *reinterpret_cast<volatile abi::SignalState*>(abi::kSignalStateAddr);
}

// Default action of `signal` is to go on (ignore, or stop: no job control here).
inline bool default_keeps_running(uint64_t signal) { return (signal >= 17 && signal <= 23) || signal == 28; }

// signal_queue.cpp: pending signals. A standard signal is one bit (a second
// one while it is pending is dropped, as on Linux); a real-time one queues
// each instance with its own PendingInfo, taken oldest first.
// Marks `signal` pending for the thread in `slot` (-1: the process); false
// when a real-time signal finds the queue full (EAGAIN).
bool queue_signal(int slot, uint64_t signal, const PendingInfo& info);
// Takes one instance of `signal` pending for the current thread (its own
// first, then the process's) and answers its siginfo words; a timer's overrun
// is filled in.
PendingInfo take_signal(uint64_t signal);
// Drops every pending instance of `signal` (its action became "ignore").
void discard_signal(uint64_t signal);
// A new thread in `slot`: nothing queued for it.
void forget_queued(int slot);
// A forked child: nothing queued at all.
void forget_all_queued();
// exec: what is pending for the calling thread and the process, standard
// signals first, then real-time instances in the order sent (at most
// `capacity`); answers the count.
uint32_t pending_for_exec(abi::ExecPendingSignal* out, uint32_t capacity);
// Boot after an exec: those signals pending again (the only thread is slot 0).
void pending_after_exec(const abi::ExecPendingSignal* in, uint32_t count);
// Linux's 128-byte siginfo for `signal` as rt_sigtimedwait writes it.
void write_siginfo(uint8_t* out, uint64_t signal, const PendingInfo& info);

// syscalls/signals.cpp: sends `signal` to the thread in `slot` (-1: the
// process) as kill and tgkill do (a default action that ends the app ends it
// now); `queued` says whether it now waits in a pending set.
int64_t send_signal(int slot, uint64_t signal, const PendingInfo& info, bool* queued = nullptr);
// The signals some signalfd watches: SignalState.handled has them too, so that
// one sent to hyperlet reaches the app instead of stopping the run.
void set_signalfd_watched(uint64_t watched);

// SignalState.handled, read by the host: one bit per signal with an action
// (a handler or SIG_IGN), or watched by a signalfd.
void publish_handled(uint64_t signal);

// syscalls/signalfd.cpp: a signal became pending; a signalfd watching it turns readable.
void signalfd_signal_queued(uint64_t signal);

// signal_delivery.cpp
// Recomputes abi::SignalState::attention from every pending set and flag.
void update_signal_attention();
// Turns an app fault into its signal when the app has an unblocked handler for
// it; false: report the fault as before.
bool deliver_fault_signal(TrapFrame* frame, uint64_t cr2);
// The app's rsp in the current thread's syscall frame (valid inside a syscall).
uint64_t current_user_rsp();

}  // namespace hyperlet::kernel
