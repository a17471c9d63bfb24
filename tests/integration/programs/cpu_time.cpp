// CPU time as a program sees it: the CPU-time clocks (process, thread, and
// another thread's through pthread_getcpuclockid), clock(), getrusage and
// times(). Sleeping must cost no CPU time and computing must count, per
// thread. Prints one verdict per line, so that the native run's output is
// the expected one; timing bounds are wide (a loaded machine, nested KVM).
// `cpu_time fork`: a forked child starts with no CPU time, its parent keeps its own.
// `cpu_time exec PATH`: the CPU time goes on across an execve of PATH (this program).
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>

namespace {

constexpr std::int64_t kMillisecond = 1'000'000;

std::int64_t clock_ns(clockid_t clock) {
  timespec now{};
  if (clock_gettime(clock, &now) != 0) return -1;
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// Computes until the calling thread's CPU clock advanced by `amount`, or 20 s
// of wall time passed (a CPU clock that does not move): whether it got there.
bool spin_for_cpu_time(std::int64_t amount) {
  const std::int64_t start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  const std::int64_t give_up = clock_ns(CLOCK_MONOTONIC) + 20'000 * kMillisecond;
  volatile std::uint64_t sink = 1;
  while (clock_ns(CLOCK_THREAD_CPUTIME_ID) - start < amount) {
    for (int i = 0; i < 100'000; ++i) sink = sink * 6364136223846793005u + 1;
    if (clock_ns(CLOCK_MONOTONIC) > give_up) return false;
  }
  return true;
}

const char* yes(bool value) { return value ? "yes" : "no"; }

volatile sig_atomic_t signals_seen = 0;
void count_signal(int) { signals_seen = signals_seen + 1; }

// Computes, without a syscall (the monotonic clock is the vDSO's), until a
// signal arrived or 20 s passed: whether one did.
bool compute_until_signal() {
  const std::int64_t give_up = clock_ns(CLOCK_MONOTONIC) + 20'000 * kMillisecond;
  volatile std::uint64_t sink = 1;
  while (signals_seen == 0 && clock_ns(CLOCK_MONOTONIC) < give_up) {
    for (int i = 0; i < 10'000; ++i) sink = sink * 6364136223846793005u + 1;
  }
  return signals_seen != 0;
}

// Interval and POSIX timers on CPU time: a sleep does not bring them closer,
// computing does, even in a loop without syscalls.
void timer_section() {
  struct sigaction action {};
  action.sa_handler = count_signal;
  sigaction(SIGPROF, &action, nullptr);
  sigaction(SIGVTALRM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);

  itimerval profile{{0, 0}, {1, 0}};
  setitimer(ITIMER_PROF, &profile, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  itimerval left{};
  getitimer(ITIMER_PROF, &left);
  std::printf("ITIMER_PROF of 1 s after 200 ms asleep: over 0.85 s left: %s\n",
              yes(left.it_value.tv_sec == 1 || left.it_value.tv_usec > 850'000));
  itimerval off{};
  setitimer(ITIMER_PROF, &off, nullptr);

  signals_seen = 0;
  itimerval virtual_timer{{0, 0}, {0, 30'000}};
  setitimer(ITIMER_VIRTUAL, &virtual_timer, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::printf("ITIMER_VIRTUAL of 30 ms: silent through 200 ms asleep: %s\n", yes(signals_seen == 0));
  std::printf("then SIGVTALRM in a computing loop: %s\n", yes(compute_until_signal()));

  signals_seen = 0;
  sigevent event{};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGUSR1;
  timer_t timer{};
  const int made = timer_create(CLOCK_PROCESS_CPUTIME_ID, &event, &timer);
  itimerspec in_20ms{{0, 0}, {0, 20 * kMillisecond}};
  timer_settime(timer, 0, &in_20ms, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::printf("a CLOCK_PROCESS_CPUTIME_ID timer (%d) of 20 ms: silent through 200 ms asleep: %s\n", made,
              yes(signals_seen == 0));
  std::printf("then its signal in a computing loop: %s\n", yes(compute_until_signal()));
  timer_delete(timer);
  clockid_t thread_clock{};
  pthread_getcpuclockid(pthread_self(), &thread_clock);
  const int made_on_thread = timer_create(thread_clock, &event, &timer);
  std::printf("a timer on pthread_getcpuclockid's clock: %d\n", made_on_thread);
  if (made_on_thread == 0) timer_delete(timer);
  errno = 0;
  const int other_process = timer_create(static_cast<clockid_t>((~999'999 << 3) | 2), &event, &timer);
  std::printf("a timer on another process's CPU clock: %d errno %d\n", other_process, errno);
  errno = 0;
  const int no_thread = timer_create(static_cast<clockid_t>((~999'999 << 3) | 6), &event, &timer);
  std::printf("a timer on a missing thread's CPU clock: %d errno %d\n", no_thread, errno);
}

int fork_section() {
  const bool spun = spin_for_cpu_time(200 * kMillisecond);
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) {
    std::perror("fork");
    return 1;
  }
  if (child == 0) {
    const std::int64_t own = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf(
        "the child starts with under 100 ms of CPU time: %s\n",
        yes(own >= 0 && own < 100 * kMillisecond && usage.ru_utime.tv_sec == 0 && usage.ru_utime.tv_usec < 100'000));
    std::fflush(stdout);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  std::printf("the parent keeps its 200 ms: %s\n",
              yes(spun && clock_ns(CLOCK_PROCESS_CPUTIME_ID) >= 200 * kMillisecond && status == 0));
  return 0;
}

int exec_section(const char* path) {
  if (!spin_for_cpu_time(200 * kMillisecond)) return 1;
  std::fflush(stdout);
  execl(path, path, "after-exec", static_cast<char*>(nullptr));
  std::perror("execl");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "fork") == 0) return fork_section();
  if (argc > 2 && std::strcmp(argv[1], "exec") == 0) return exec_section(argv[2]);
  if (argc > 1 && std::strcmp(argv[1], "after-exec") == 0) {
    std::printf("the CPU time goes on across an execve: %s\n",
                yes(clock_ns(CLOCK_PROCESS_CPUTIME_ID) >= 200 * kMillisecond));
    return 0;
  }
  // A sleep is not CPU time.
  const std::int64_t before_sleep = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::int64_t slept = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - before_sleep;
  std::printf("300 ms asleep cost under 150 ms of CPU time: %s\n",
              yes(before_sleep >= 0 && slept < 150 * kMillisecond));

  // Computing is, for the process and for the thread.
  const std::int64_t process_before = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  std::printf("computing moves the thread's CPU clock: %s\n", yes(spin_for_cpu_time(100 * kMillisecond)));
  std::printf("and the process's: %s\n",
              yes(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - process_before >= 100 * kMillisecond));
  std::printf("clock() counts it: %s\n", yes(std::clock() >= CLOCKS_PER_SEC / 10));

  // Another thread computes while this one waits on a condition variable (no
  // polling: a wake-up costs CPU time, the more so on a slow host): its clock,
  // read through pthread_getcpuclockid while it lives, has its time; this one's
  // does not.
  std::mutex stage_mutex;
  std::condition_variable stage_changed;
  int stage = 0;
  const auto set_stage = [&](int value) {
    const std::lock_guard lock(stage_mutex);
    stage = value;
    stage_changed.notify_all();
  };
  const auto await_stage = [&](int value) {
    std::unique_lock lock(stage_mutex);
    stage_changed.wait(lock, [&] { return stage == value; });
  };
  bool worker_spun = false;
  std::thread worker([&] {
    worker_spun = spin_for_cpu_time(200 * kMillisecond);
    set_stage(1);
    await_stage(2);
  });
  // From here on (creating a thread costs CPU time, much of it on a slow host).
  const std::int64_t main_before = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  clockid_t worker_clock{};
  const int got_clock = pthread_getcpuclockid(worker.native_handle(), &worker_clock);
  await_stage(1);
  const std::int64_t worker_ns = clock_ns(worker_clock);
  const std::int64_t main_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - main_before;
  set_stage(2);
  worker.join();
  std::printf("a computing thread's clock (pthread_getcpuclockid %d): at least 200 ms: %s\n", got_clock,
              yes(worker_spun && worker_ns >= 200 * kMillisecond));
  std::printf("the waiting thread's own: under half of that: %s\n", yes(main_ns >= 0 && main_ns < worker_ns / 2));
  std::printf("the process's holds both: %s\n",
              yes(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - process_before >= 300 * kMillisecond));
  clockid_t process_clock{};
  std::printf("clock_getcpuclockid(0) reads the same clock: %s\n",
              yes(clock_getcpuclockid(0, &process_clock) == 0 &&
                  clock_ns(process_clock) >= clock_ns(CLOCK_PROCESS_CPUTIME_ID) - 50 * kMillisecond));

  // getrusage and times agree with the clocks.
  rusage self{};
  const int usage = getrusage(RUSAGE_SELF, &self);
  const std::int64_t user_ns = std::int64_t{self.ru_utime.tv_sec} * 1'000'000'000 + self.ru_utime.tv_usec * 1000 +
                               std::int64_t{self.ru_stime.tv_sec} * 1'000'000'000 + self.ru_stime.tv_usec * 1000;
  std::printf("getrusage(RUSAGE_SELF) %d: user + system at least 250 ms: %s\n", usage,
              yes(user_ns >= 250 * kMillisecond));
  rusage thread{};
  const int thread_usage = getrusage(RUSAGE_THREAD, &thread);
  std::printf("getrusage(RUSAGE_THREAD) %d: under the process's: %s\n", thread_usage,
              yes(thread.ru_utime.tv_sec * 1'000'000 + thread.ru_utime.tv_usec <=
                  self.ru_utime.tv_sec * 1'000'000 + self.ru_utime.tv_usec + 1000));
  rusage children{};
  std::printf("getrusage(RUSAGE_CHILDREN): %d\n", getrusage(RUSAGE_CHILDREN, &children));
  tms ticks{};
  const clock_t elapsed = times(&ticks);
  const long per_second = sysconf(_SC_CLK_TCK);
  std::printf("times: %s, user + system at least 0.25 s: %s\n", yes(elapsed != static_cast<clock_t>(-1)),
              yes(ticks.tms_utime + ticks.tms_stime >= per_second / 4));
  const clock_t later = times(nullptr);
  std::printf("times(NULL) moves forward: %s\n", yes(later >= elapsed));

  // Bad arguments get Linux's errors (each result is taken before its errno).
  const auto report = [](const char* what, long result) { std::printf("%s: %ld errno %d\n", what, result, errno); };
  errno = 0;
  report("getrusage(42)", syscall(SYS_getrusage, 42, &self));
  errno = 0;
  report("getrusage into a bad pointer", syscall(SYS_getrusage, RUSAGE_SELF, reinterpret_cast<void*>(8)));
  timespec ignored{};
  errno = 0;
  report("the clock of a thread that does not exist",
         syscall(SYS_clock_gettime, static_cast<clockid_t>((~999'999 << 3) | 6), &ignored));
  errno = 0;
  report("the clock of another process",
         syscall(SYS_clock_gettime, static_cast<clockid_t>((~999'999 << 3) | 2), &ignored));
  errno = 0;
  report("times into a bad pointer", syscall(SYS_times, reinterpret_cast<void*>(8)));
  errno = 0;
  report("a malformed CPU clock", syscall(SYS_clock_gettime, static_cast<clockid_t>((~0 << 3) | 3), &ignored));
  std::printf("clock_getres of the thread clock: %d\n", clock_getres(CLOCK_THREAD_CPUTIME_ID, &ignored));
  timer_section();
  return 0;
}
