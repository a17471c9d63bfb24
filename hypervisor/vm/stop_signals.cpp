#include "vm/stop_signals.h"

#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "vm/forked_child.h"

namespace hyperlet {

std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_children_changed{false};
std::atomic<kvm_run*> g_running_vcpu{nullptr};
std::atomic<std::uint64_t> g_app_signals{0};
std::atomic<const volatile std::uint64_t*> g_app_signal_state{nullptr};
std::atomic<bool> g_stop_timeout_expired{false};

namespace {

timer_t g_stop_timer{};
std::atomic<bool> g_stop_timer_created{false};
// Repeats a signal the app takes at the vCPU thread until the run loop has put
// it into guest memory: one that lands between a VM exit and the start of a
// blocking host call (a single thread's read, accept, kSleep) would otherwise
// wait until the call ends. Its SIGALRMs carry kKickValue.
timer_t g_kick_timer{};
std::atomic<bool> g_kick_timer_created{false};
constexpr int kKickValue = 0x4b49434b;  // "KICK"
constexpr long kKickEveryNs = 5'000'000;
timer_t g_grace_timer{};  // --stop-timeout: SIGTERM with SI_TIMER when it runs out
std::atomic<bool> g_grace_timer_created{false};
std::atomic<bool> g_grace_started{false};
std::atomic<std::int64_t> g_stop_timeout_ns{10'000'000'000};

// Group signals between the handler (which appends) and the main thread's
// run loop (which takes); both run on the main thread, so the handler only
// interrupts a take, never the reverse.
constexpr unsigned kGroupSignalSlots = 64;
std::array<std::atomic<std::uint64_t>, kGroupSignalSlots> g_group_values{};
std::array<std::atomic<pid_t>, kGroupSignalSlots> g_group_senders{};
std::atomic<unsigned> g_group_written{0};
std::atomic<unsigned> g_group_taken{0};

// AppSignalInfo per signal (N - 1), written before the bit is set: the code
// and status in one word, the sender in another.
std::array<std::atomic<std::uint64_t>, 64> g_info_code_status{};
std::array<std::atomic<pid_t>, 64> g_info_sender{};
std::array<std::atomic<bool>, 64> g_info_sender_is_guest_pid{};

// Whether the app takes `signal` (async-signal-safe: one load from guest memory).
bool app_takes(int signal) {
  if (signal <= 0 || signal > 64 || (kAppSignals & (std::uint64_t{1} << (signal - 1))) == 0) return false;
  const volatile std::uint64_t* state = g_app_signal_state.load();
  return state != nullptr && (state[0] & (std::uint64_t{1} << (signal - 1))) != 0;  // SignalState::handled
}

}  // namespace

void signal_for_app(int signal, const AppSignalInfo& info) {
  if (signal <= 0 || signal > 64) return;
  const std::uint64_t bit = std::uint64_t{1} << (signal - 1);
  if ((g_app_signals.load() & bit) == 0) {
    g_info_code_status[signal - 1].store(static_cast<std::uint64_t>(static_cast<std::uint32_t>(info.code)) << 32 |
                                         static_cast<std::uint32_t>(info.status));
    g_info_sender[signal - 1].store(info.sender);
    g_info_sender_is_guest_pid[signal - 1].store(info.sender_is_guest_pid);
  }
  g_app_signals.fetch_or(bit);
}

AppSignalInfo app_signal_info(int signal) {
  if (signal <= 0 || signal > 64) return {};
  const std::uint64_t code_status = g_info_code_status[signal - 1].load();
  return AppSignalInfo{static_cast<int>(static_cast<std::uint32_t>(code_status >> 32)),
                       g_info_sender[signal - 1].load(), static_cast<int>(static_cast<std::uint32_t>(code_status)),
                       g_info_sender_is_guest_pid[signal - 1].load()};
}

namespace {

void start_grace_period() {
  if (g_grace_started.exchange(true) || !g_grace_timer_created.load()) return;
  const std::int64_t ns = std::max<std::int64_t>(g_stop_timeout_ns.load(), 1);
  itimerspec spec{};
  spec.it_value = timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  timer_settime(g_grace_timer, 0, &spec, nullptr);  // async-signal-safe
}

void repeat_every_10ms(const timespec& first) {
  itimerspec spec{};
  spec.it_value = first;
  spec.it_interval.tv_nsec = 10'000'000;
  timer_settime(g_stop_timer, 0, &spec, nullptr);  // async-signal-safe
}

void disarm_timer() {
  const itimerspec none{};
  timer_settime(g_stop_timer, 0, &none, nullptr);
}

void arm_kick(bool on) {
  if (!g_kick_timer_created.load()) return;
  itimerspec spec{};
  if (on) spec.it_value.tv_nsec = spec.it_interval.tv_nsec = kKickEveryNs;
  timer_settime(g_kick_timer, 0, &spec, nullptr);  // async-signal-safe
}

void on_stop_signal(int signal, siginfo_t* info, void* /*context*/) {
  if (signal == SIGALRM && info != nullptr && info->si_code == SI_TIMER && info->si_value.sival_int == kKickValue) {
    // Arriving is what interrupts a blocking call (EINTR); once the run loop
    // took the signals, the repeats stop.
    if (g_app_signals.load() == 0 && g_group_taken.load() == g_group_written.load()) return arm_kick(false);
    if (kvm_run* run = g_running_vcpu.load()) run->immediate_exit = 1;
    return;
  }
  if (signal == SIGCHLD) {
    // Never a stop. An app that ignores it (reap_children) needs no kick: the
    // run loop reaps at its next turn.
    g_children_changed.store(true);
    const volatile std::uint64_t* state = g_app_signal_state.load();
    const bool reaps = state != nullptr && state[offsetof(abi::SignalState, reap_children) / 8] != 0;
    if (g_stop_signal.load() == 0 && app_takes(signal) && !reaps) {
      // A child's hyperlet ends as its app did (vm/forked_child.h): its code and status are the app's.
      if (info != nullptr && info->si_code != SI_USER && info->si_code != SI_QUEUE) {
        signal_for_app(signal, AppSignalInfo{info->si_code, info->si_pid, info->si_status});
      } else {
        signal_for_app(signal, AppSignalInfo{SI_USER, info != nullptr && info->si_code == SI_USER ? info->si_pid : 0});
      }
      if (kvm_run* run = g_running_vcpu.load()) run->immediate_exit = 1;
      arm_kick(true);
    }
    return;
  }
  if (signal == SIGTERM && info != nullptr && info->si_code == SI_TIMER) {
    g_stop_timeout_expired.store(true);  // --stop-timeout ran out: stop as below
  } else if (g_stop_signal.load() == 0 && app_takes(signal)) {
    // From another of the app's processes (kAppSignals travel as themselves) or from outside.
    signal_for_app(signal, AppSignalInfo{SI_USER, info != nullptr && info->si_code == SI_USER ? info->si_pid : 0});
    if (kvm_run* run = g_running_vcpu.load()) run->immediate_exit = 1;
    if (signal == SIGTERM) start_grace_period();
    arm_kick(true);
    return;
  }
  int none = 0;
  g_stop_signal.compare_exchange_strong(none, signal);
  if (kvm_run* run = g_running_vcpu.load()) run->immediate_exit = 1;
  if (signal != SIGALRM && g_stop_timer_created.load()) repeat_every_10ms(timespec{0, 10'000'000});
}

// A signal from another of the app's processes (vm/app_signals.h): for the
// app whatever it is; its guest kernel applies the action. A group signal
// waits for the run loop, which knows the process's group and neighbours.
void on_relayed_signal(int /*signal*/, siginfo_t* info, void* /*context*/) {
  if (info == nullptr || info->si_code != SI_QUEUE) return;
  const auto value = reinterpret_cast<std::uintptr_t>(info->si_value.sival_ptr);
  if (is_group_signal(value)) {
    const unsigned written = g_group_written.load();
    if (written - g_group_taken.load() >= kGroupSignalSlots) return;
    g_group_values[written % kGroupSignalSlots].store(value);
    g_group_senders[written % kGroupSignalSlots].store(info->si_pid);
    g_group_written.store(written + 1);
    if (kvm_run* run = g_running_vcpu.load()) run->immediate_exit = 1;
    arm_kick(true);
    return;
  }
  const int signal = info->si_value.sival_int;
  if (signal <= 0 || signal > 64 || signal == SIGKILL || signal == SIGSTOP) return;
  signal_for_app(signal, AppSignalInfo{SI_USER, info->si_pid, 0});
  if (kvm_run* run = g_running_vcpu.load()) run->immediate_exit = 1;
  arm_kick(true);
}

Result<void> create_timers();

Result<void> install_once() {
  // Inherited dispositions and masks do not count: a background job of a
  // non-interactive shell starts with SIGINT ignored, and a parent may have
  // blocked SIGALRM (which --timeout needs).
  struct sigaction action {};
  action.sa_sigaction = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_SIGINFO;  // no SA_RESTART: blocking calls return EINTR
  constexpr int kHandled[] = {SIGALRM, SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD};
  for (const int signal : kHandled) {
    // SIGCHLD restarts what it interrupts: only an app with a handler needs the
    // kick (SIGALRM, which does not), and an app that ignores it none.
    action.sa_flags = signal == SIGCHLD ? SA_SIGINFO | SA_RESTART : SA_SIGINFO;
    if (sigaction(signal, &action, nullptr) != 0) {
      return fail(ExitStatus::kUsage, "cannot install a signal handler: {}", std::strerror(errno));
    }
  }
  struct sigaction relayed {};
  relayed.sa_sigaction = on_relayed_signal;
  sigemptyset(&relayed.sa_mask);
  relayed.sa_flags = SA_SIGINFO;  // as the app's own signals: blocking calls return EINTR
  if (sigaction(kRelayedAppSignal, &relayed, nullptr) != 0) {
    return fail(ExitStatus::kUsage, "cannot install a signal handler: {}", std::strerror(errno));
  }
  sigset_t stop_set;
  sigemptyset(&stop_set);
  for (const int signal : kHandled) sigaddset(&stop_set, signal);
  sigaddset(&stop_set, kRelayedAppSignal);
  pthread_sigmask(SIG_UNBLOCK, &stop_set, nullptr);
  return create_timers();
}

// POSIX timers are not inherited across fork, unlike the handlers and the mask.
Result<void> create_timers() {
  sigevent event{};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGALRM;
  if (timer_create(CLOCK_MONOTONIC, &event, &g_stop_timer) != 0) {
    return fail(ExitStatus::kUsage, "cannot create the stop timer: {}", std::strerror(errno));
  }
  g_stop_timer_created.store(true);
  sigevent grace{};
  grace.sigev_notify = SIGEV_SIGNAL;
  grace.sigev_signo = SIGTERM;
  if (timer_create(CLOCK_MONOTONIC, &grace, &g_grace_timer) != 0) {
    return fail(ExitStatus::kUsage, "cannot create the stop-timeout timer: {}", std::strerror(errno));
  }
  g_grace_timer_created.store(true);
  sigevent kick{};
  kick.sigev_notify = SIGEV_SIGNAL;
  kick.sigev_signo = SIGALRM;
  kick.sigev_value.sival_int = kKickValue;
  if (timer_create(CLOCK_MONOTONIC, &kick, &g_kick_timer) != 0) {
    return fail(ExitStatus::kUsage, "cannot create the signal kick timer: {}", std::strerror(errno));
  }
  g_kick_timer_created.store(true);
  // A signal that came before the timer existed still gets its repeats.
  if (const int early = g_stop_signal.load(); early != 0 && early != SIGALRM) {
    repeat_every_10ms(timespec{0, 10'000'000});
  }
  return {};
}

}  // namespace

std::vector<ReceivedGroupSignal> take_group_signals() {
  std::vector<ReceivedGroupSignal> received;
  for (unsigned taken = g_group_taken.load(); taken != g_group_written.load(); ++taken) {
    received.push_back(
        {g_group_values[taken % kGroupSignalSlots].load(), g_group_senders[taken % kGroupSignalSlots].load()});
    g_group_taken.store(taken + 1);
  }
  return received;
}

bool group_signals_waiting() { return g_group_taken.load() != g_group_written.load(); }

Result<void> install_stop_signals_after_fork() {
  g_stop_timer_created.store(false);
  g_grace_timer_created.store(false);
  g_kick_timer_created.store(false);
  g_grace_started.store(false);
  g_stop_signal.store(0);
  g_app_signals.store(0);
  g_group_taken.store(g_group_written.load());
  return create_timers();  // the handlers and the mask are the parent's, as fork keeps them
}

Result<void> install_stop_signals() {
  static std::once_flag once;
  static Result<void> installed;
  std::call_once(once, [] { installed = install_once(); });
  return installed;
}

void arm_stop_deadline(std::chrono::nanoseconds timeout) {
  timespec first{static_cast<time_t>(timeout.count() / 1'000'000'000),
                 static_cast<long>(timeout.count() % 1'000'000'000)};
  if (first.tv_sec == 0 && first.tv_nsec == 0) first.tv_nsec = 1;
  repeat_every_10ms(first);
}

void disarm_stop_timer() {
  if (g_stop_timer_created.load()) disarm_timer();
  arm_kick(false);
  if (g_grace_timer_created.load()) {
    const itimerspec none{};
    timer_settime(g_grace_timer, 0, &none, nullptr);
  }
}

void stop_app_signal_kicks() {
  if (g_app_signals.load() == 0 && !group_signals_waiting()) arm_kick(false);
}

void set_stop_timeout(std::chrono::nanoseconds timeout) { g_stop_timeout_ns.store(timeout.count()); }

Error stopped_by_signal_error(int signal) {
  note_app_killed_by(signal, true);
  if (signal == SIGTERM && g_stop_timeout_expired.load()) {
    const double seconds = static_cast<double>(g_stop_timeout_ns.load()) / 1e9;
    return Error{static_cast<ExitStatus>(128 + signal),
                 fmt::format("stopped by SIGTERM: the app did not exit within --stop-timeout {:g}s of the SIGTERM "
                             "it handles",
                             seconds)};
  }
  return Error{static_cast<ExitStatus>(128 + signal), fmt::format("stopped by SIG{}", sigabbrev_np(signal))};
}

void signal_self_at_startup_step_for_tests(std::string_view step) {
  static const char* const request = std::getenv("HYPERLET_TEST_SIGNAL_AT");
  if (request == nullptr) return;
  const std::string_view text(request);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || text.substr(0, colon) != step) return;
  const std::string_view name = text.substr(colon + 1);
  const int signal = name == "INT"    ? SIGINT
                     : name == "TERM" ? SIGTERM
                     : name == "HUP"  ? SIGHUP
                     : name == "KILL" ? SIGKILL
                                      : 0;
  if (signal != 0) ::kill(::getpid(), signal);
}

}  // namespace hyperlet
