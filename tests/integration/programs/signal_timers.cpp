// Timers that signal, queued real-time signals, sigwait and signalfd, one
// section per argv[1]; each prints what it observed, the same natively as in a
// microVM (tests/integration/signal_tests.cpp compares). Only facts that hold
// on both are printed: no timer ids, no pids, times only as coarse bounds.
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

volatile sig_atomic_t g_count = 0;
volatile sig_atomic_t g_codes_ok = 1;
int g_pipe[2] = {-1, -1};
// What handlers saw, in order (signal number and si_value), for the queueing sections.
struct Seen {
  int signal;
  int value;
  int code;
};
Seen g_seen[32];
std::atomic<int> g_seen_count{0};

void install(int signal, void (*handler)(int, siginfo_t*, void*), int flags) {
  struct sigaction action {};
  action.sa_sigaction = handler;
  action.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&action.sa_mask);
  if (sigaction(signal, &action, nullptr) != 0) std::perror("sigaction");
}

void counting(int, siginfo_t*, void*) { g_count = g_count + 1; }

void recording(int signal, siginfo_t* info, void*) {
  const int at = g_seen_count.fetch_add(1);
  if (at < 32) g_seen[at] = Seen{signal, info->si_value.sival_int, info->si_code};
}

// A SA_RESTART handler that lets the interrupted read finish: one byte into the pipe.
void feeding(int, siginfo_t*, void*) {
  g_count = g_count + 1;
  (void)!write(g_pipe[1], "x", 1);
}

const char* errno_name(int error) {
  switch (error) {
    case 0:
      return "0";
    case EINTR:
      return "EINTR";
    case EINVAL:
      return "EINVAL";
    case EFAULT:
      return "EFAULT";
    case EAGAIN:
      return "EAGAIN";
    case EPERM:
      return "EPERM";
    case ESRCH:
      return "ESRCH";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    default:
      return "other";
  }
}

double now_seconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

void set_itimer(int which, long first_us, long every_us) {
  itimerval value{};
  value.it_value.tv_sec = first_us / 1'000'000;
  value.it_value.tv_usec = first_us % 1'000'000;
  value.it_interval.tv_sec = every_us / 1'000'000;
  value.it_interval.tv_usec = every_us % 1'000'000;
  if (setitimer(which, &value, nullptr) != 0) std::perror("setitimer");
}

// Computes without a syscall until `count` signals came (or ~20 s passed).
void compute_until(int count) {
  volatile uint64_t sink = 0;
  const double end = now_seconds() + 20;
  while (g_count < count && now_seconds() < end) {
    for (int i = 0; i < 100000; ++i) sink = sink + static_cast<uint64_t>(i);
  }
}

// ---- alarm, setitimer ----
int alarm_section() {
  install(SIGALRM, counting, 0);
  alarm(1);
  compute_until(1);
  std::printf("SIGALRM while computing: %d\n", static_cast<int>(g_count));
  alarm(10);
  std::printf("alarm(0) after alarm(10): %u\n", alarm(0));
  std::printf("alarm(0) again: %u\n", alarm(0));
  return 0;
}

int itimer_compute() {
  install(SIGALRM, counting, SA_RESTART);
  set_itimer(ITIMER_REAL, 20'000, 20'000);
  compute_until(5);
  set_itimer(ITIMER_REAL, 0, 0);
  std::printf("periodic ITIMER_REAL while computing: %s\n", g_count >= 5 ? "at least 5" : "fewer");
  itimerval left{};
  getitimer(ITIMER_REAL, &left);
  std::printf("after disarming: %ld.%06ld every %ld.%06ld\n", static_cast<long>(left.it_value.tv_sec),
              static_cast<long>(left.it_value.tv_usec), static_cast<long>(left.it_interval.tv_sec),
              static_cast<long>(left.it_interval.tv_usec));
  set_itimer(ITIMER_REAL, 5'000'000, 1'000'000);
  getitimer(ITIMER_REAL, &left);
  std::printf("armed for 5 s: %s, every %ld.%06ld\n",
              left.it_value.tv_sec >= 4 && left.it_value.tv_sec <= 5 ? "4-5 s left" : "wrong",
              static_cast<long>(left.it_interval.tv_sec), static_cast<long>(left.it_interval.tv_usec));
  itimerval old{};
  const itimerval off{};
  setitimer(ITIMER_REAL, &off, &old);
  std::printf("setitimer's old value: %s\n", old.it_value.tv_sec >= 4 && old.it_interval.tv_sec == 1 ? "ok" : "wrong");
  // ITIMER_PROF counts CPU time: computing spends it.
  g_count = 0;
  install(SIGPROF, counting, SA_RESTART);
  set_itimer(ITIMER_PROF, 30'000, 0);
  compute_until(1);
  std::printf("SIGPROF while computing: %d\n", static_cast<int>(g_count));
  return 0;
}

// A timer interrupts a blocking call: EINTR without SA_RESTART, the call made
// again with it; a sleep and pause end with EINTR either way.
int itimer_block() {
  install(SIGALRM, counting, 0);
  set_itimer(ITIMER_REAL, 100'000, 0);
  timespec sleep_for{3, 0}, left{};
  const int slept = nanosleep(&sleep_for, &left);
  std::printf("nanosleep: %d %s, %s left\n", slept, errno_name(slept == 0 ? 0 : errno),
              left.tv_sec >= 2 ? "over 2 s" : "under 2 s");
  set_itimer(ITIMER_REAL, 100'000, 0);
  const int paused = pause();
  std::printf("pause: %d %s, handled %d\n", paused, errno_name(errno), static_cast<int>(g_count));

  if (pipe(g_pipe) != 0) return 1;
  char byte = 0;
  set_itimer(ITIMER_REAL, 100'000, 0);
  ssize_t got = read(g_pipe[0], &byte, 1);
  std::printf("read without SA_RESTART: %zd %s\n", got, errno_name(got < 0 ? errno : 0));
  install(SIGALRM, feeding, SA_RESTART);
  set_itimer(ITIMER_REAL, 100'000, 0);
  got = read(g_pipe[0], &byte, 1);
  std::printf("read with SA_RESTART: %zd '%c'\n", got, byte);
  // A blocked timer signal interrupts nothing: the sleep runs its course.
  sigset_t alarm_set;
  sigemptyset(&alarm_set);
  sigaddset(&alarm_set, SIGALRM);
  sigprocmask(SIG_BLOCK, &alarm_set, nullptr);
  set_itimer(ITIMER_REAL, 50'000, 0);
  timespec short_sleep{0, 200'000'000};
  std::printf("nanosleep with SIGALRM blocked: %d\n", nanosleep(&short_sleep, nullptr));
  sigset_t pending;
  sigpending(&pending);
  std::printf("SIGALRM pending afterwards: %d\n", sigismember(&pending, SIGALRM));
  int taken = 0;
  sigwait(&alarm_set, &taken);
  std::printf("sigwait took signal %d\n", taken);
  return 0;
}

// ---- POSIX timers ----
timer_t make_timer(clockid_t clock, int notify, int signal, int value, pid_t tid = 0) {
  sigevent event{};
  event.sigev_notify = notify;
  event.sigev_signo = signal;
  event.sigev_value.sival_int = value;
  if (notify == SIGEV_THREAD_ID) event._sigev_un._tid = tid;
  timer_t timer{};
  if (timer_create(clock, &event, &timer) != 0) std::perror("timer_create");
  return timer;
}

void arm(timer_t timer, long first_ns, long every_ns, int flags = 0) {
  itimerspec spec{};
  spec.it_value.tv_sec = first_ns / 1'000'000'000;
  spec.it_value.tv_nsec = first_ns % 1'000'000'000;
  spec.it_interval.tv_sec = every_ns / 1'000'000'000;
  spec.it_interval.tv_nsec = every_ns % 1'000'000'000;
  if (timer_settime(timer, flags, &spec, nullptr) != 0) std::perror("timer_settime");
}

std::atomic<int> g_thread_value{0};
sem_t g_thread_done;
void on_thread_timer(sigval value) {
  g_thread_value.store(value.sival_int);
  sem_post(&g_thread_done);
}

struct ThreadTimerResult {
  int signal = 0;
  int value = 0;
  bool own_thread = false;
};

void* wait_for_thread_timer(void* out) {
  auto* result = static_cast<ThreadTimerResult*>(out);
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  timer_t timer = make_timer(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIGRTMIN + 2, 77, self);
  arm(timer, 30'000'000, 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN + 2);
  siginfo_t info{};
  result->signal = sigwaitinfo(&set, &info) - SIGRTMIN;
  result->value = info.si_value.sival_int;
  result->own_thread = info.si_code == SI_TIMER;
  timer_delete(timer);
  return nullptr;
}

int posix_timers() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  sigaddset(&set, SIGRTMIN + 1);
  sigaddset(&set, SIGRTMIN + 2);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  // One shot, CLOCK_MONOTONIC, SIGEV_SIGNAL: its siginfo.
  timer_t once = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 42);
  arm(once, 20'000'000, 0);
  siginfo_t info{};
  int signal = sigwaitinfo(&set, &info);
  std::printf("one shot: SIGRTMIN+%d code SI_TIMER %d value %d overrun %d\n", signal - SIGRTMIN,
              info.si_code == SI_TIMER, info.si_value.sival_int, info.si_overrun);
  itimerspec left{};
  timer_gettime(once, &left);
  std::printf("expired one shot: %ld.%09ld\n", static_cast<long>(left.it_value.tv_sec), left.it_value.tv_nsec);

  // Periodic while its signal waits blocked: the expiries in between are overruns.
  arm(once, 10'000'000, 10'000'000);
  timespec wait{0, 200'000'000};
  nanosleep(&wait, nullptr);
  signal = sigwaitinfo(&set, &info);
  const int overrun = timer_getoverrun(once);
  std::printf("periodic: SIGRTMIN+%d overrun %s, timer_getoverrun %s\n", signal - SIGRTMIN,
              info.si_overrun >= 5 ? "at least 5" : "below 5", overrun == info.si_overrun ? "the same" : "differs");
  timer_gettime(once, &left);
  std::printf("periodic gettime: interval %ld.%09ld, value %s\n", static_cast<long>(left.it_interval.tv_sec),
              left.it_interval.tv_nsec,
              left.it_value.tv_sec == 0 && left.it_value.tv_nsec <= 10'000'000 ? "ok" : "wrong");
  timer_delete(once);
  // The signal it may have queued since is of no interest: ignoring discards it.
  ::signal(SIGRTMIN, SIG_IGN);
  ::signal(SIGRTMIN, SIG_DFL);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  // CLOCK_REALTIME, absolute.
  timer_t absolute = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 1, 5);
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  itimerspec at{};
  at.it_value = now;
  at.it_value.tv_nsec += 50'000'000;
  if (at.it_value.tv_nsec >= 1'000'000'000) {
    at.it_value.tv_nsec -= 1'000'000'000;
    at.it_value.tv_sec += 1;
  }
  timer_settime(absolute, TIMER_ABSTIME, &at, nullptr);
  const double before = now_seconds();
  signal = sigwaitinfo(&set, &info);
  const double waited = now_seconds() - before;
  std::printf("realtime absolute: SIGRTMIN+%d value %d after %s\n", signal - SIGRTMIN, info.si_value.sival_int,
              waited > 0.02 && waited < 2 ? "~50 ms" : "a wrong time");
  timer_delete(absolute);

  // SIGEV_NONE: no signal, but the time runs.
  timer_t silent = make_timer(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
  arm(silent, 50'000'000, 0);
  timer_gettime(silent, &left);
  std::printf("SIGEV_NONE armed: %s\n", left.it_value.tv_nsec > 0 ? "time left" : "none left");
  timespec hundred_ms{0, 100'000'000};
  nanosleep(&hundred_ms, nullptr);
  timer_gettime(silent, &left);
  std::printf("SIGEV_NONE later: %ld.%09ld\n", static_cast<long>(left.it_value.tv_sec), left.it_value.tv_nsec);
  sigset_t pending;
  sigpending(&pending);
  std::printf("anything pending: %d\n", sigismember(&pending, SIGRTMIN) + sigismember(&pending, SIGALRM));
  timer_delete(silent);

  // SIGEV_THREAD_ID: the signal goes to the thread named.
  pthread_t thread;
  ThreadTimerResult result;
  pthread_create(&thread, nullptr, wait_for_thread_timer, &result);
  pthread_join(thread, nullptr);
  std::printf("SIGEV_THREAD_ID: SIGRTMIN+%d value %d SI_TIMER %d\n", result.signal, result.value, result.own_thread);

  // glibc's SIGEV_THREAD (a helper thread waiting on SIGEV_THREAD_ID).
  sem_init(&g_thread_done, 0, 0);
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD;
  event.sigev_notify_function = on_thread_timer;
  event.sigev_value.sival_int = 7;
  timer_t threaded{};
  if (timer_create(CLOCK_MONOTONIC, &event, &threaded) != 0) std::perror("timer_create SIGEV_THREAD");
  arm(threaded, 20'000'000, 0);
  sem_wait(&g_thread_done);
  std::printf("SIGEV_THREAD callback ran with value %d\n", g_thread_value.load());
  timer_delete(threaded);

  // A timer's signal to a handler while the app computes.
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  install(SIGRTMIN, counting, SA_RESTART);
  timer_t computing = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 0);
  arm(computing, 10'000'000, 10'000'000);
  compute_until(3);
  timer_delete(computing);
  std::printf("handler while computing: %s\n", g_count >= 3 ? "at least 3" : "fewer");
  return 0;
}

// A thread computes with SIGALRM blocked; the main thread, blocked in a read
// (a parked host call in the VM), takes the timer's signal and gets EINTR.
std::atomic<bool> g_stop{false};
void* compute_blocked(void*) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  volatile uint64_t sink = 0;
  while (!g_stop.load()) sink = sink + 1;
  return nullptr;
}

int timer_threads() {
  install(SIGALRM, counting, 0);
  pthread_t worker;
  pthread_create(&worker, nullptr, compute_blocked, nullptr);
  if (pipe(g_pipe) != 0) return 1;
  set_itimer(ITIMER_REAL, 100'000, 0);
  char byte = 0;
  const ssize_t got = read(g_pipe[0], &byte, 1);
  std::printf("read beside a computing thread: %zd %s, handled %d\n", got, errno_name(got < 0 ? errno : 0),
              static_cast<int>(g_count));
  // A computing thread that takes the signal itself.
  g_count = 0;
  set_itimer(ITIMER_REAL, 20'000, 20'000);
  compute_until(3);
  set_itimer(ITIMER_REAL, 0, 0);
  std::printf("periodic beside a computing thread: %s\n", g_count >= 3 ? "at least 3" : "fewer");
  g_stop.store(true);
  pthread_join(worker, nullptr);
  return 0;
}

// ---- real-time signals queue; standard ones do not ----
int queueing() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGRTMIN);
  sigaddset(&set, SIGRTMIN + 1);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  install(SIGUSR1, recording, 0);
  install(SIGRTMIN, recording, 0);
  install(SIGRTMIN + 1, recording, 0);
  for (int value : {1, 2, 3}) sigqueue(getpid(), SIGRTMIN, sigval{.sival_int = value});
  sigqueue(getpid(), SIGRTMIN + 1, sigval{.sival_int = 10});
  sigqueue(getpid(), SIGUSR1, sigval{.sival_int = 20});
  sigqueue(getpid(), SIGUSR1, sigval{.sival_int = 21});
  kill(getpid(), SIGRTMIN);
  pthread_sigqueue(pthread_self(), SIGRTMIN + 1, sigval{.sival_int = 11});
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  for (int i = 0; i < g_seen_count.load(); ++i) {
    const Seen& seen = g_seen[i];
    const char* code = seen.code == SI_QUEUE ? "SI_QUEUE" : seen.code == SI_USER ? "SI_USER" : "other";
    std::printf("%s %d %s\n",
                seen.signal == SIGUSR1    ? "SIGUSR1"
                : seen.signal == SIGRTMIN ? "SIGRTMIN"
                                          : "SIGRTMIN+1",
                seen.code == SI_USER ? 0 : seen.value, code);
  }
  // sigwaitinfo takes them in the same order, each with its value.
  sigprocmask(SIG_BLOCK, &set, nullptr);
  for (int value : {4, 5, 6}) sigqueue(getpid(), SIGRTMIN + 1, sigval{.sival_int = value});
  siginfo_t info{};
  for (int i = 0; i < 3; ++i) {
    const int signal = sigwaitinfo(&set, &info);
    std::printf("sigwaitinfo: SIGRTMIN+%d value %d pid is ours %d\n", signal - SIGRTMIN, info.si_value.sival_int,
                info.si_pid == getpid());
  }
  sigset_t pending;
  sigpending(&pending);
  std::printf("pending after: %d\n", sigismember(&pending, SIGRTMIN + 1));
  // Ignoring a queued signal discards every instance.
  for (int value : {7, 8}) sigqueue(getpid(), SIGRTMIN, sigval{.sival_int = value});
  ::signal(SIGRTMIN, SIG_IGN);
  sigpending(&pending);
  std::printf("pending after SIG_IGN: %d\n", sigismember(&pending, SIGRTMIN));
  return 0;
}

// ---- sigtimedwait and signalfd ----
int waiting() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGALRM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  timespec timeout{0, 50'000'000};
  siginfo_t info{};
  int got = sigtimedwait(&set, &info, &timeout);
  std::printf("sigtimedwait with nothing: %d %s\n", got, errno_name(errno));
  set_itimer(ITIMER_REAL, 30'000, 0);
  timespec long_timeout{5, 0};
  got = sigtimedwait(&set, &info, &long_timeout);
  std::printf("sigtimedwait for a timer: %s code SI_KERNEL %d\n", got == SIGALRM ? "SIGALRM" : "other",
              info.si_code == SI_KERNEL);
  return 0;
}

// A result and its errno (evaluated in this order).
void show(const char* what, long result) {
  std::printf("%s: %ld %s\n", what, result, errno_name(result < 0 ? errno : 0));
}

int signalfd_section() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGRTMIN);
  sigaddset(&set, SIGALRM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  const int fd = signalfd(-1, &set, SFD_CLOEXEC);
  if (fd < 0) {
    std::printf("signalfd: %s\n", errno_name(errno));
    return 0;
  }
  pollfd polled{fd, POLLIN, 0};
  std::printf("poll with nothing pending: %d\n", poll(&polled, 1, 0));
  kill(getpid(), SIGUSR1);
  sigqueue(getpid(), SIGRTMIN, sigval{.sival_int = 9});
  const int ready = poll(&polled, 1, 0);
  std::printf("poll with two pending: %d revents POLLIN %d\n", ready, (polled.revents & POLLIN) != 0);
  signalfd_siginfo records[4]{};
  ssize_t got = read(fd, records, sizeof(records));
  std::printf("read %zd bytes:", got);
  for (ssize_t i = 0; i < got / static_cast<ssize_t>(sizeof(signalfd_siginfo)); ++i) {
    std::printf(" signal %s value %d code %s;", records[i].ssi_signo == SIGUSR1 ? "SIGUSR1" : "SIGRTMIN",
                records[i].ssi_int,
                records[i].ssi_code == SI_QUEUE  ? "SI_QUEUE"
                : records[i].ssi_code == SI_USER ? "SI_USER"
                                                 : "other");
  }
  std::printf("\n");
  // Blocking read: a timer's SIGALRM comes.
  set_itimer(ITIMER_REAL, 30'000, 0);
  got = read(fd, records, sizeof(signalfd_siginfo));
  std::printf("blocking read: %zd bytes, %s\n", got, records[0].ssi_signo == SIGALRM ? "SIGALRM" : "other");
  // epoll on it.
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
  std::printf("epoll with nothing pending: %d\n", epoll_wait(epoll, &event, 1, 0));
  set_itimer(ITIMER_REAL, 30'000, 0);
  std::printf("epoll waiting for a timer: %d\n", epoll_wait(epoll, &event, 1, 5000));
  got = read(fd, records, sizeof(signalfd_siginfo));
  std::printf("then read: %zd bytes\n", got);
  // Non-blocking with nothing pending; a short buffer.
  const int nonblocking = signalfd(-1, &set, SFD_NONBLOCK);
  got = read(nonblocking, records, sizeof(signalfd_siginfo));
  std::printf("non-blocking read with nothing: %zd %s\n", got, errno_name(errno));
  got = read(nonblocking, records, 8);
  std::printf("short read: %zd %s\n", got, errno_name(errno));
  // Changing the mask of an existing one; errors.
  sigset_t only_usr1;
  sigemptyset(&only_usr1);
  sigaddset(&only_usr1, SIGUSR1);
  std::printf("update mask: %s\n", signalfd(fd, &only_usr1, 0) == fd ? "same fd" : "other");
  show("update a non-signalfd", signalfd(0, &only_usr1, 0));
  show("bad flags", syscall(SYS_signalfd4, -1, &only_usr1, 8, 0x1234));
  show("bad size", syscall(SYS_signalfd4, -1, &only_usr1, 4, 0));
  show("bad mask pointer", syscall(SYS_signalfd4, -1, 16, 8, 0));
  // A dup is the same signalfd: readv of it, read of an F_DUPFD copy, and a
  // mask change through a copy that the original follows.
  const int copy = dup(fd);
  kill(getpid(), SIGUSR1);
  signalfd_siginfo one{};
  // (One record per iovec: older kernels read a signalfd's iovecs one by one.)
  iovec whole{&one, sizeof one};
  got = readv(copy, &whole, 1);
  std::printf("readv of a dup: %zd bytes, %s\n", got, one.ssi_signo == SIGUSR1 ? "SIGUSR1" : "other");
  iovec short_one{&one, 40};
  show("readv into 40 bytes", readv(copy, &short_one, 1));
  const int high = fcntl(fd, F_DUPFD_CLOEXEC, 50);
  kill(getpid(), SIGUSR1);
  one = {};
  got = read(high, &one, sizeof one);
  std::printf("read of an F_DUPFD copy (fd %s): %zd bytes, %s\n", high >= 50 ? ">= 50" : "< 50", got,
              one.ssi_signo == SIGUSR1 ? "SIGUSR1" : "other");
  sigset_t only_alarm;
  sigemptyset(&only_alarm);
  sigaddset(&only_alarm, SIGALRM);
  signalfd(copy, &only_alarm, 0);
  kill(getpid(), SIGUSR1);  // watched by neither now: it stays pending
  pollfd original{fd, POLLIN, 0};
  std::printf("the original after a mask change through its dup: poll %d\n", poll(&original, 1, 0));
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  const timespec none{};
  std::printf("SIGUSR1 still pending: %s\n", sigtimedwait(&usr1, nullptr, &none) == SIGUSR1 ? "yes" : "no");
  close(high);
  close(copy);
  close(nonblocking);
  close(epoll);
  close(fd);
  return 0;
}

// SIGTERM from outside (sent to hyperlet in the VM) read from a signalfd: the
// app blocks it and has no handler, so it must not stop the run.
int signalfd_sigterm() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  const int fd = signalfd(-1, &set, 0);
  std::printf("ready\n");
  signalfd_siginfo record{};
  const ssize_t got = read(fd, &record, sizeof(record));
  std::printf("signalfd read %zd bytes: %s\n", got, record.ssi_signo == SIGTERM ? "SIGTERM" : "other");
  return 0;
}

// ---- bad input: the same errno as Linux ----
int errors() {
  int id = 0;
  sigevent event{};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGRTMIN;
  show("timer_create bad clock", syscall(SYS_timer_create, 99, &event, &id));
  show("timer_create negative clock", syscall(SYS_timer_create, -50, &event, &id));
  show("timer_create CLOCK_MONOTONIC_RAW", syscall(SYS_timer_create, CLOCK_MONOTONIC_RAW, &event, &id));
  show("timer_create bad sigevent pointer", syscall(SYS_timer_create, CLOCK_MONOTONIC, 16, &id));
  show("timer_create bad id pointer", syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, 16));
  event.sigev_notify = 99;
  show("timer_create bad notify", syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &id));
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = 0;
  show("timer_create signal 0", syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &id));
  event.sigev_signo = 65;
  show("timer_create signal 65", syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &id));
  event.sigev_signo = SIGRTMIN;
  event.sigev_notify = SIGEV_THREAD_ID;
  event._sigev_un._tid = 0x3ffffff0;
  show("timer_create no such thread", syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &id));
  event.sigev_notify = SIGEV_SIGNAL;
  show("timer_create good", syscall(SYS_timer_create, CLOCK_MONOTONIC, &event, &id));
  itimerspec spec{};
  spec.it_value.tv_nsec = 1'000'000'000;
  show("timer_settime nsec 1e9", syscall(SYS_timer_settime, id, 0, &spec, nullptr));
  spec.it_value.tv_nsec = 0;
  spec.it_value.tv_sec = -1;
  show("timer_settime negative", syscall(SYS_timer_settime, id, 0, &spec, nullptr));
  spec.it_value.tv_sec = 100;
  spec.it_interval.tv_nsec = -1;
  show("timer_settime bad interval", syscall(SYS_timer_settime, id, 0, &spec, nullptr));
  show("timer_settime NULL", syscall(SYS_timer_settime, id, 0, nullptr, nullptr));
  show("timer_settime bad pointer", syscall(SYS_timer_settime, id, 0, 16, nullptr));
  show("timer_settime bad id", syscall(SYS_timer_settime, 0x3ffffff0, 0, &spec, nullptr));
  show("timer_gettime bad pointer", syscall(SYS_timer_gettime, id, 16));
  show("timer_gettime bad id", syscall(SYS_timer_gettime, -1, &spec));
  show("timer_getoverrun bad id", syscall(SYS_timer_getoverrun, 0x3ffffff0));
  show("timer_delete", syscall(SYS_timer_delete, id));
  show("timer_delete again", syscall(SYS_timer_delete, id));
  show("timer_settime deleted", syscall(SYS_timer_settime, id, 0, &spec, nullptr));
  itimerval value{};
  show("setitimer bad which", syscall(SYS_setitimer, 7, &value, nullptr));
  value.it_value.tv_usec = 1'000'000;
  show("setitimer usec 1e6", syscall(SYS_setitimer, ITIMER_REAL, &value, nullptr));
  show("setitimer bad pointer", syscall(SYS_setitimer, ITIMER_REAL, 16, nullptr));
  show("setitimer bad old pointer", syscall(SYS_setitimer, ITIMER_REAL, nullptr, 16));
  show("getitimer bad which", syscall(SYS_getitimer, 9, &value));
  show("getitimer bad pointer", syscall(SYS_getitimer, ITIMER_REAL, 16));
  siginfo_t info{};
  info.si_code = SI_QUEUE;
  show("rt_sigqueueinfo bad pointer", syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, 16));
  show("rt_sigqueueinfo no such process", syscall(SYS_rt_sigqueueinfo, 0x3ffffff0, SIGRTMIN, &info));
  show("rt_sigqueueinfo bad signal", syscall(SYS_rt_sigqueueinfo, getpid(), 99, &info));
  info.si_code = SI_USER;
  show("rt_sigqueueinfo SI_USER to another", syscall(SYS_rt_sigqueueinfo, 0x3ffffff0, SIGRTMIN, &info));
  show("rt_tgsigqueueinfo bad thread", syscall(SYS_rt_tgsigqueueinfo, getpid(), 0, SIGRTMIN, &info));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string section = argc > 1 ? argv[1] : "";
  if (section == "alarm") return alarm_section();
  if (section == "itimer-compute") return itimer_compute();
  if (section == "itimer-block") return itimer_block();
  if (section == "posix-timers") return posix_timers();
  if (section == "timer-threads") return timer_threads();
  if (section == "queueing") return queueing();
  if (section == "waiting") return waiting();
  if (section == "signalfd") return signalfd_section();
  if (section == "signalfd-sigterm") return signalfd_sigterm();
  if (section == "errors") return errors();
  std::fprintf(stderr, "unknown section '%s'\n", section.c_str());
  return 2;
}
