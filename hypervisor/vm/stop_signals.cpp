#include "vm/stop_signals.h"

#include <fmt/format.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace hyperlet {

std::atomic<int> g_stop_signal{0};
std::atomic<kvm_run*> g_running_vcpu{nullptr};

namespace {

timer_t g_stop_timer{};
std::atomic<bool> g_stop_timer_created{false};

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

void on_stop_signal(int signal) {
  int none = 0;
  g_stop_signal.compare_exchange_strong(none, signal);
  if (kvm_run* run = g_running_vcpu.load()) run->immediate_exit = 1;
  if (signal != SIGALRM && g_stop_timer_created.load()) repeat_every_10ms(timespec{0, 10'000'000});
}

Result<void> install_once() {
  // Inherited dispositions and masks do not count: a background job of a
  // non-interactive shell starts with SIGINT ignored, and a parent may have
  // blocked SIGALRM (which --timeout needs).
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR
  for (const int signal : {SIGALRM, SIGINT, SIGTERM}) {
    if (sigaction(signal, &action, nullptr) != 0) {
      return fail(ExitStatus::kUsage, "cannot install a signal handler: {}", std::strerror(errno));
    }
  }
  sigset_t stop_set;
  sigemptyset(&stop_set);
  for (const int signal : {SIGALRM, SIGINT, SIGTERM}) sigaddset(&stop_set, signal);
  pthread_sigmask(SIG_UNBLOCK, &stop_set, nullptr);
  sigevent event{};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGALRM;
  if (timer_create(CLOCK_MONOTONIC, &event, &g_stop_timer) != 0) {
    return fail(ExitStatus::kUsage, "cannot create the stop timer: {}", std::strerror(errno));
  }
  g_stop_timer_created.store(true);
  // A signal that came before the timer existed still gets its repeats.
  if (const int early = g_stop_signal.load(); early != 0 && early != SIGALRM) {
    repeat_every_10ms(timespec{0, 10'000'000});
  }
  return {};
}

}  // namespace

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
}

Error stopped_by_signal_error(int signal) {
  return Error{static_cast<ExitStatus>(128 + signal), fmt::format("stopped by SIG{}", sigabbrev_np(signal))};
}

void signal_self_at_startup_step_for_tests(std::string_view step) {
  static const char* const request = std::getenv("HYPERLET_TEST_SIGNAL_AT");
  if (request == nullptr) return;
  const std::string_view text(request);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || text.substr(0, colon) != step) return;
  const std::string_view name = text.substr(colon + 1);
  const int signal = name == "INT" ? SIGINT : name == "TERM" ? SIGTERM : name == "KILL" ? SIGKILL : 0;
  if (signal != 0) ::kill(::getpid(), signal);
}

}  // namespace hyperlet
