// fork, wait and kill as an app uses them (tests/integration/process_tests.cpp):
// each section prints what it saw in words that are the same natively and in
// a microVM (no pids, only how they relate).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace {

int global_value = 1;

const char* yes(bool value) { return value ? "yes" : "no"; }

void describe_status(const char* who, int status) {
  if (WIFEXITED(status)) {
    std::printf("%s: exited %d\n", who, WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    std::printf("%s: killed by %s\n", who, sigabbrev_np(WTERMSIG(status)));
  } else {
    std::printf("%s: status %#x\n", who, status);
  }
}

int wait_for(pid_t pid, const char* who) {
  int status = 0;
  const pid_t reported = waitpid(pid, &status, 0);
  if (reported != pid) {
    std::printf("%s: waitpid answered %d (%s)\n", who, reported, std::strerror(errno));
    return -1;
  }
  describe_status(who, status);
  return status;
}

// The child gets a copy of memory: its stores are its own.
int copy_on_write() {
  const pid_t parent = getpid();
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) {
    std::printf("fork failed: %s\n", strerrorname_np(errno));
    return 1;
  }
  if (child == 0) {
    global_value = 2;
    std::printf("child: sees %d, its parent is the forker: %s, its pid is new: %s\n", global_value,
                yes(getppid() == parent), yes(getpid() != parent));
    std::exit(3);
  }
  wait_for(child, "child");
  std::printf("parent: sees %d\n", global_value);
  return 0;
}

// Shared memory stays shared across fork: MAP_SHARED|MAP_ANONYMOUS, MAP_SHARED
// of /dev/zero, and a shared mapping mremap moved; MAP_PRIVATE stays the
// child's own. (A child's stores to shared anonymous memory were lost.)
int shared_memory() {
  constexpr std::size_t kSize = 3 * 4096;
  auto* anonymous = static_cast<int*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  auto* priv = static_cast<int*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  const int zero_fd = open("/dev/zero", O_RDWR);
  auto* zero = static_cast<int*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, zero_fd, 0));
  if (anonymous == MAP_FAILED || priv == MAP_FAILED || zero == MAP_FAILED) {
    std::printf("mmap failed: %s\n", strerrorname_np(errno));
    return 1;
  }
  std::printf("fresh shared memory reads zero: %s\n", yes(anonymous[0] == 0 && anonymous[2047] == 0 && zero[5] == 0));
  anonymous[0] = 1;
  anonymous[2048] = 1;  // the second page
  priv[0] = 1;
  zero[1] = 1;
  std::fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    std::printf("child sees the parent's stores: %s\n", yes(anonymous[0] == 1 && zero[1] == 1 && priv[0] == 1));
    anonymous[0] = 2;
    anonymous[2048] = 3;
    priv[0] = 4;
    zero[1] = 5;
    std::exit(0);
  }
  wait_for(child, "child");
  std::printf("parent sees the child's stores: shared anonymous %d %d, /dev/zero %d, private %d\n", anonymous[0],
              anonymous[2048], zero[1], priv[0]);
  // Grown by mremap (moved, in a microVM), it is still the same memory; as on
  // Linux, the pages past its first size are past the end of its memory (SIGBUS).
  auto* moved = static_cast<int*>(mremap(anonymous, kSize, kSize + 4096, MREMAP_MAYMOVE));
  if (moved == MAP_FAILED) {
    std::printf("mremap failed: %s\n", strerrorname_np(errno));
    return 1;
  }
  std::printf("the moved mapping holds what was there: %s\n", yes(moved[0] == 2 && moved[2048] == 3));
  std::fflush(stdout);
  child = fork();
  if (child == 0) {
    moved[1] = 6;
    std::exit(0);
  }
  wait_for(child, "child");
  std::printf("after mremap the child's store is seen: %d\n", moved[1]);
  // Another process's view of it ends with munmap, not the memory's contents.
  munmap(moved, kSize + 4096);
  munmap(priv, kSize);
  munmap(zero, kSize);
  close(zero_fd);
  return 0;
}

// Process-shared synchronisation in shared memory: a semaphore one process
// posts and another waits on, a mutex and condition variable both processes
// use, and a timed wait nobody ends. With `threads`, the waiting parent has
// another thread that keeps running meanwhile. (The waiter hung: each VM's
// futexes were its own.)
struct SharedSync {
  sem_t posted;
  sem_t never_posted;
  pthread_mutex_t mutex;
  pthread_cond_t changed;
  int counter;
};

void* count_until_told(void* argument) {
  auto* stop = static_cast<std::atomic<bool>*>(argument);
  long rounds = 0;
  while (!stop->load()) ++rounds;
  return reinterpret_cast<void*>(rounds > 0 ? 1 : 0);
}

int shared_futexes(bool with_thread) {
  void* memory = mmap(nullptr, sizeof(SharedSync), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return 1;
  auto* sync = new (memory) SharedSync{};
  sem_init(&sync->posted, 1, 0);
  sem_init(&sync->never_posted, 1, 0);
  pthread_mutexattr_t mutex_attributes;
  pthread_mutexattr_init(&mutex_attributes);
  pthread_mutexattr_setpshared(&mutex_attributes, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&sync->mutex, &mutex_attributes);
  pthread_condattr_t cond_attributes;
  pthread_condattr_init(&cond_attributes);
  pthread_condattr_setpshared(&cond_attributes, PTHREAD_PROCESS_SHARED);
  pthread_cond_init(&sync->changed, &cond_attributes);
  std::atomic<bool> stop{false};
  pthread_t counter_thread{};
  if (with_thread) pthread_create(&counter_thread, nullptr, count_until_told, &stop);
  constexpr int kRounds = 200;
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    usleep(20'000);  // the parent waits first
    sem_post(&sync->posted);
    for (int i = 0; i < kRounds; ++i) {
      pthread_mutex_lock(&sync->mutex);
      ++sync->counter;
      pthread_cond_signal(&sync->changed);
      pthread_mutex_unlock(&sync->mutex);
    }
    std::exit(0);
  }
  const int waited = sem_wait(&sync->posted);
  std::printf("the child's post ended the parent's wait: %s\n", yes(waited == 0));
  for (int i = 0; i < kRounds; ++i) {
    pthread_mutex_lock(&sync->mutex);
    ++sync->counter;
    pthread_mutex_unlock(&sync->mutex);
  }
  pthread_mutex_lock(&sync->mutex);
  while (sync->counter < 2 * kRounds) pthread_cond_wait(&sync->changed, &sync->mutex);
  const int counted = sync->counter;
  pthread_mutex_unlock(&sync->mutex);
  std::printf("both processes counted under one mutex: %d\n", counted);
  wait_for(child, "child");
  timespec deadline{};
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_nsec += 50'000'000;
  if (deadline.tv_nsec >= 1'000'000'000) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1'000'000'000;
  }
  const int timed = sem_timedwait(&sync->never_posted, &deadline);
  std::printf("a timed wait nobody ends: %s\n", timed == 0 ? "ended" : strerrorname_np(errno));
  if (with_thread) {
    stop.store(true);
    void* ran = nullptr;
    pthread_join(counter_thread, &ran);
    std::printf("the other thread ran meanwhile: %s\n", yes(ran != nullptr));
  }
  return 0;
}

// POSIX shared memory and a named semaphore (both files in /dev/shm) between a
// parent and its child. NAME keeps runs apart.
int posix_shm(const std::string& name) {
  const std::string memory_name = "/" + name + "-memory";
  const std::string semaphore_name = "/" + name + "-semaphore";
  const int fd = shm_open(memory_name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    std::printf("shm_open: %s\n", strerrorname_np(errno));
    return 0;
  }
  if (ftruncate(fd, 4096) != 0) return 1;
  auto* shared = static_cast<int*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  sem_t* ready = sem_open(semaphore_name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  if (shared == MAP_FAILED || ready == SEM_FAILED) {
    std::printf("mmap or sem_open: %s\n", strerrorname_np(errno));
    return 1;
  }
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    // The child opens both again by name, as an unrelated process would.
    const int again = shm_open(memory_name.c_str(), O_RDWR, 0);
    auto* mine = static_cast<int*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, again, 0));
    sem_t* its_ready = sem_open(semaphore_name.c_str(), 0);
    if (again < 0 || mine == MAP_FAILED || its_ready == SEM_FAILED) std::exit(1);
    usleep(20'000);  // the parent waits first
    mine[10] = 1234;
    sem_post(its_ready);
    std::exit(0);
  }
  const int waited = sem_wait(ready);
  std::printf("the child's post by name ended the wait: %s; it wrote %d\n", yes(waited == 0), shared[10]);
  wait_for(child, "child");
  std::printf("unlinked: %s %s\n", yes(shm_unlink(memory_name.c_str()) == 0),
              yes(sem_unlink(semaphore_name.c_str()) == 0));
  return 0;
}

// A pipe between them; the child's pid as the parent's fork saw it.
int pipe_between() {
  int ends[2];
  if (pipe(ends) != 0) return 1;
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    close(ends[0]);
    const pid_t self = getpid();
    const std::string text = "hello from the child\n";
    if (write(ends[1], &self, sizeof self) != sizeof self) _exit(10);
    if (write(ends[1], text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(11);
    _exit(0);
  }
  close(ends[1]);
  pid_t reported = 0;
  if (read(ends[0], &reported, sizeof reported) != sizeof reported) return 1;
  char buffer[64] = {};
  std::size_t got = 0;
  for (ssize_t n; (n = read(ends[0], buffer + got, sizeof buffer - 1 - got)) > 0;) got += static_cast<std::size_t>(n);
  std::printf("parent read: %s", buffer);
  std::printf("the child's getpid is fork's answer: %s\n", yes(reported == child));
  wait_for(child, "child");
  return 0;
}

// Deaths by signal reach the parent's wait as they do natively.
int signals() {
  std::fflush(stdout);
  pid_t child = fork();
  if (child == 0) abort();
  wait_for(child, "aborting child");

  int ready[2];
  if (pipe(ready) != 0) return 1;
  for (const int signal : {SIGTERM, SIGKILL, SIGUSR1}) {
    std::fflush(stdout);
    child = fork();
    if (child == 0) {
      const char byte = 'r';
      if (write(ready[1], &byte, 1) != 1) _exit(12);
      for (;;) pause();
    }
    char byte = 0;
    if (read(ready[0], &byte, 1) != 1) return 1;
    std::printf("kill(child, %s) = %d\n", sigabbrev_np(signal), kill(child, signal));
    wait_for(child, "paused child");
  }

  // A child that handles SIGTERM and exits on its own.
  std::fflush(stdout);
  child = fork();
  if (child == 0) {
    struct sigaction action {};
    action.sa_handler = [](int) { _exit(42); };
    sigaction(SIGTERM, &action, nullptr);
    const char byte = 'r';
    if (write(ready[1], &byte, 1) != 1) _exit(12);
    for (;;) pause();
  }
  char byte = 0;
  if (read(ready[0], &byte, 1) != 1) return 1;
  kill(child, SIGTERM);
  wait_for(child, "child with a SIGTERM handler");
  return 0;
}

// waitpid's and waitid's answers around children.
int waiting() {
  int status = 0;
  int answer = waitpid(-1, &status, 0);
  std::printf("waitpid(-1) without children: %d %s\n", answer, strerrorname_np(errno));
  int hold[2];
  if (pipe(hold) != 0) return 1;
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    close(hold[1]);
    char byte;
    while (read(hold[0], &byte, 1) > 0) {
    }
    _exit(7);
  }
  close(hold[0]);
  std::printf("waitpid(WNOHANG) while it runs: %d\n", waitpid(child, &status, WNOHANG));
  answer = kill(child + 100000, 0);
  std::printf("kill(a pid that is no child, 0): %d %s\n", answer, strerrorname_np(errno));
  std::printf("kill(child, 0): %d\n", kill(child, 0));
  close(hold[1]);
  siginfo_t info{};
  const int waited = waitid(P_PID, static_cast<id_t>(child), &info, WEXITED);
  std::printf("waitid: %d, the child: %s, code %s, status %d\n", waited, yes(info.si_pid == child),
              info.si_code == CLD_EXITED ? "CLD_EXITED" : "other", info.si_status);
  answer = waitpid(child, &status, 0);
  std::printf("waitpid(child) again: %d %s\n", answer, strerrorname_np(errno));

  // Twenty children, reaped in any order.
  int sum = 0;
  for (int i = 1; i <= 20; ++i) {
    std::fflush(stdout);
    if (fork() == 0) _exit(i);
  }
  for (int i = 0; i < 20; ++i) {
    if (wait(&status) > 0 && WIFEXITED(status)) sum += WEXITSTATUS(status);
  }
  std::printf("twenty children's statuses add up to %d\n", sum);
  return 0;
}

// An open file is shared with the child, offset included, as natively.
int shared_file(const char* path) {
  const int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    std::printf("open %s: %s\n", path, std::strerror(errno));
    return 1;
  }
  if (write(fd, "A", 1) != 1) return 1;
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) _exit(write(fd, "B", 1) == 1 ? 0 : 1);
  wait_for(child, "writing child");
  if (write(fd, "C", 1) != 1) return 1;
  char buffer[8] = {};
  std::printf("file holds: %.*s\n", static_cast<int>(pread(fd, buffer, sizeof buffer, 0)), buffer);
  close(fd);
  return 0;
}

// fork from a process with a second thread: the child has only the forking one,
// and can make threads of its own.
int with_threads() {
  int hold[2];
  if (pipe(hold) != 0) return 1;
  pthread_t waiter;
  pthread_create(
      &waiter, nullptr,
      [](void* end) -> void* {
        char byte;
        while (read(*static_cast<int*>(end), &byte, 1) > 0) {
        }
        return nullptr;
      },
      &hold[0]);
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    pthread_t helper;
    static int value = 0;
    pthread_create(
        &helper, nullptr,
        [](void*) -> void* {
          value = 5;
          return nullptr;
        },
        nullptr);
    pthread_join(helper, nullptr);
    std::printf("child: its own thread ran: %s\n", yes(value == 5));
    std::exit(0);
  }
  wait_for(child, "child");
  close(hold[1]);
  pthread_join(waiter, nullptr);
  std::printf("parent: its thread ended\n");
  return 0;
}

// vfork: the child borrows the parent's memory, and the parent goes on only
// once the child has exec'd or ended.
volatile int stored_by_child = 0;
volatile int child_exec_errno = 0;
char* volatile child_allocations[2000];

int vfork_exit(const char* data_dir) {
  std::fflush(stdout);
  const pid_t child = vfork();
  if (child == 0) _exit(9);
  wait_for(child, "vfork child");
  // 42 only if the child ran first and its store is the parent's.
  const pid_t storing = vfork();
  if (storing == 0) {
    stored_by_child = 42;
    _exit(0);
  }
  std::printf("parent sees the vfork child's store: %d\n", stored_by_child);
  wait_for(storing, "storing vfork child");
  // The shell's way to report a failed exec: errno in the shared memory.
  const pid_t exec_failing = vfork();
  if (exec_failing == 0) {
    char* const arguments[] = {const_cast<char*>("missing"), nullptr};
    execve((std::string(data_dir) + "/missing").c_str(), arguments, environ);
    child_exec_errno = errno;
    _exit(127);
  }
  std::printf("the vfork child's execve failed with %s\n", strerrorname_np(child_exec_errno));
  wait_for(exec_failing, "exec-failing vfork child");
  // The heap is shared too: 2 MB of small blocks the child allocates (the
  // heap grows) are the parent's, which frees them and allocates on.
  const void* heap_end_before = sbrk(0);
  const pid_t allocating = vfork();
  if (allocating == 0) {
    for (int i = 0; i < 2000; ++i) {
      child_allocations[i] = static_cast<char*>(std::malloc(1000));
      std::memset(child_allocations[i], 'a' + i % 26, 1000);
    }
    _exit(0);
  }
  std::printf("the heap end moved with the child's allocations: %s\n", yes(sbrk(0) > heap_end_before));
  bool intact = true;
  for (int i = 0; i < 2000; ++i) intact = intact && child_allocations[i][999] == 'a' + i % 26;
  for (int i = 0; i < 2000; ++i) std::free(child_allocations[i]);
  std::string grown;
  for (int i = 0; i < 100000; ++i) grown += static_cast<char>('0' + i % 10);
  std::printf("the child's allocations: %s, freed; the heap goes on: %zu bytes\n", intact ? "intact" : "damaged",
              grown.size());
  wait_for(allocating, "allocating vfork child");
  return 0;
}

// SIGCHLD reaches a handler when a child ends; with SIGCHLD ignored, ended
// children are reaped at once and wait finds none.
volatile sig_atomic_t children_ended = 0;

int child_signal() {
  struct sigaction action {};
  action.sa_handler = [](int) { children_ended = children_ended + 1; };
  sigaction(SIGCHLD, &action, nullptr);
  sigset_t blocked, old;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, &old);
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) _exit(4);
  while (children_ended == 0) sigsuspend(&old);
  std::printf("SIGCHLD handler ran: %s\n", yes(children_ended == 1));
  sigprocmask(SIG_SETMASK, &old, nullptr);
  wait_for(child, "child");

  signal(SIGCHLD, SIG_IGN);
  for (int i = 0; i < 10; ++i) {
    std::fflush(stdout);
    const pid_t quick = fork();
    if (quick < 0) {
      std::printf("fork %d failed: %s\n", i, strerrorname_np(errno));
      return 1;
    }
    if (quick == 0) _exit(0);
    usleep(20000);
  }
  std::printf("ten children forked one after another\n");
  int status = 0;
  const int answer = waitpid(-1, &status, 0);
  std::printf("with SIGCHLD ignored, waitpid: %d %s\n", answer, strerrorname_np(errno));
  return 0;
}

// A child signals its parent: the parent's handler runs, as natively.
volatile sig_atomic_t from_child = 0;

int signal_parent() {
  struct sigaction action {};
  action.sa_handler = [](int signal) { from_child = signal; };
  sigaction(SIGUSR1, &action, nullptr);
  sigset_t blocked, old;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  sigprocmask(SIG_BLOCK, &blocked, &old);
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    const int alive = kill(getppid(), 0);
    const int sent = kill(getppid(), SIGUSR1);
    _exit(alive == 0 && sent == 0 ? 0 : 1);
  }
  while (from_child == 0) sigsuspend(&old);
  std::printf("parent's handler ran for %s from its child\n", sigabbrev_np(from_child));
  sigprocmask(SIG_SETMASK, &old, nullptr);
  wait_for(child, "signalling child");
  return 0;
}

// Any signal between parent and child, not only those a shell sends: SIGALRM
// (hyperlet's own --timeout signal), SIGWINCH, a real-time one, SIGQUIT to a
// child with a handler and to one without (it dies of it), SIGWINCH to a
// child without a handler (ignored by default), SIGCONT.
volatile sig_atomic_t relayed_seen = 0;  // bit per signal the parent's handler ran for

int relayed_signals() {
  const int to_parent[] = {SIGALRM, SIGWINCH, SIGRTMIN + 2, SIGCONT};
  struct sigaction action {};
  action.sa_handler = [](int signal) { relayed_seen = relayed_seen | (1 << (signal - SIGALRM)); };
  sigset_t blocked, old;
  sigemptyset(&blocked);
  for (const int signal : to_parent) {
    sigaction(signal, &action, nullptr);
    sigaddset(&blocked, signal);
  }
  sigprocmask(SIG_BLOCK, &blocked, &old);
  int expected = 0;
  for (const int signal : to_parent) expected |= 1 << (signal - SIGALRM);
  std::fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    for (const int signal : to_parent) {
      if (kill(getppid(), signal) != 0) _exit(1);
    }
    _exit(0);
  }
  while (relayed_seen != expected) sigsuspend(&old);
  std::printf("parent's handlers ran for ALRM, WINCH, RTMIN+2 and CONT from its child\n");
  wait_for(child, "signalling child");
  sigprocmask(SIG_SETMASK, &old, nullptr);

  // Children with and without handlers, told apart by what they write to a pipe.
  for (const bool handles : {true, false}) {
    for (const int sent : {SIGQUIT, SIGWINCH}) {
      int ready[2];
      if (pipe(ready) != 0) return 1;
      std::fflush(stdout);
      child = fork();
      if (child == 0) {
        static volatile sig_atomic_t got = 0;
        if (handles) signal(sent, [](int number) { got = number; });
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        // A handler's signal surely comes (10 s at most); the default of
        // SIGWINCH is to go on, seen after 0.3 s.
        for (int waited = 0; got == 0 && waited < (handles ? 1000 : 30); ++waited) usleep(10'000);
        _exit(got != 0 ? 10 : 20);  // 20: ran on without a handler (WINCH's default)
      }
      close(ready[1]);
      char byte;
      if (read(ready[0], &byte, 1) != 1) return 1;
      close(ready[0]);
      kill(child, sent);
      const std::string who =
          std::string(sigabbrev_np(sent)) + (handles ? " to a child with a handler" : " to a child without one");
      wait_for(child, who.c_str());
    }
  }
  return 0;
}

// What siginfo says of a signal from another of the app's processes, as Linux
// fills it: SIGCHLD's code, pid and status for a child that exited and one a
// signal killed (sigwaitinfo, and a signalfd's record); kill from a child, as
// itself (SIGUSR1) and relayed (SIGWINCH), and from the parent; a group kill's
// sender.
siginfo_t wait_for_signal(int signal) {
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  siginfo_t info{};
  while (sigwaitinfo(&only, &info) != signal) {
  }
  return info;
}

// A SIGCHLD an earlier child left pending.
void drain_sigchld() {
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, SIGCHLD);
  const timespec none{};
  while (sigtimedwait(&only, nullptr, &none) == SIGCHLD) {
  }
}

const char* child_code(int code) {
  switch (code) {
    case CLD_EXITED:
      return "CLD_EXITED";
    case CLD_KILLED:
      return "CLD_KILLED";
    case CLD_DUMPED:
      return "CLD_DUMPED";
    case SI_USER:
      return "SI_USER";
    default:
      return "another code";
  }
}

int siginfo_between() {
  sigset_t blocked;
  sigemptyset(&blocked);
  for (const int signal : {SIGCHLD, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&blocked, signal);
  sigprocmask(SIG_BLOCK, &blocked, nullptr);
  // An app that only blocks SIGCHLD has the default action (ignore) and still
  // sees it pending; hyperlet hands the app only signals it has an action for.
  struct sigaction action {};
  action.sa_handler = [](int) {};
  for (const int signal : {SIGCHLD, SIGUSR1, SIGUSR2, SIGWINCH}) sigaction(signal, &action, nullptr);

  std::fflush(stdout);
  pid_t child = fork();
  if (child == 0) _exit(7);
  siginfo_t info = wait_for_signal(SIGCHLD);
  std::printf("SIGCHLD of a child that exited 7: %s, status %d, its pid: %s\n", child_code(info.si_code),
              info.si_status, yes(info.si_pid == child));
  wait_for(child, "the exiting child");
  drain_sigchld();

  child = fork();
  if (child == 0) {
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    _exit(1);
  }
  info = wait_for_signal(SIGCHLD);
  std::printf("SIGCHLD of a child SIGTERM killed: %s, status %s, its pid: %s\n", child_code(info.si_code),
              sigabbrev_np(info.si_status), yes(info.si_pid == child));
  wait_for(child, "the killed child");
  drain_sigchld();

  const int signal_fd = signalfd(-1, &blocked, SFD_CLOEXEC);
  child = fork();
  if (child == 0) _exit(3);
  signalfd_siginfo record{};
  while (read(signal_fd, &record, sizeof record) == sizeof record && record.ssi_signo != SIGCHLD) {
  }
  std::printf("signalfd's SIGCHLD record: %s, status %d, its pid: %s\n", child_code(static_cast<int>(record.ssi_code)),
              record.ssi_status, yes(static_cast<pid_t>(record.ssi_pid) == child));
  close(signal_fd);
  wait_for(child, "the child a signalfd saw");
  drain_sigchld();

  // The child signals its parent, as itself and relayed; the parent signals the child.
  int ready[2];
  if (pipe(ready) != 0) return 1;
  std::fflush(stdout);
  child = fork();
  if (child == 0) {
    close(ready[0]);
    kill(getppid(), SIGUSR1);
    kill(getppid(), SIGWINCH);
    if (write(ready[1], "r", 1) != 1) _exit(1);
    const siginfo_t from_parent = wait_for_signal(SIGUSR2);
    _exit(from_parent.si_code == SI_USER && from_parent.si_pid == getppid() ? 0 : 1);
  }
  close(ready[1]);
  char byte;
  if (read(ready[0], &byte, 1) != 1) return 1;
  close(ready[0]);
  for (const int signal : {SIGUSR1, SIGWINCH}) {
    info = wait_for_signal(signal);
    std::printf("%s from the child: %s, from its pid: %s\n", sigabbrev_np(signal), child_code(info.si_code),
                yes(info.si_pid == child));
  }
  kill(child, SIGUSR2);
  wait_for(child, "the child SIGUSR2 from its parent reached with its parent's pid (exit 0)");
  drain_sigchld();

  // kill(0, ...) from a child reaches its parent with the child's pid. In a
  // group of their own: natively, the caller's group may hold its caller too.
  // (EPERM for a session leader, such as the run's first process: it leads its group already.)
  setpgid(0, 0);
  child = fork();
  if (child == 0) {
    kill(0, SIGUSR1);
    _exit(0);
  }
  info = wait_for_signal(SIGUSR1);
  std::printf("SIGUSR1 a child sent its group: %s, from its pid: %s\n", child_code(info.si_code),
              yes(info.si_pid == child));
  wait_for(child, "the child that signalled its group");
  return 0;
}

// kill of a process group reaches every process in it, and no other: the
// caller's group (0) with two children in it, then a child that made a group
// of its own, which kill(0) misses and kill(-its pgid) reaches.
volatile sig_atomic_t group_signal_seen = 0;

int group_signals() {
  setpgid(0, 0);  // natively: a group of its own, not the test runner's (in a microVM it leads one already)
  struct sigaction action {};
  action.sa_handler = [](int signal) { group_signal_seen = signal; };
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGUSR2, &action, nullptr);
  int ready[2];
  if (pipe(ready) != 0) return 1;
  const auto start_child = [&](bool own_group) {
    std::fflush(stdout);
    const pid_t child = fork();
    if (child == 0) {
      group_signal_seen = 0;  // the parent's copy may have seen one already
      if (own_group && setpgid(0, 0) != 0) _exit(2);
      close(ready[0]);
      if (write(ready[1], "r", 1) != 1) _exit(1);
      // 10 s at most for a signal that comes; 0.5 s shows one that does not.
      for (int waited = 0; group_signal_seen == 0 && waited < (own_group ? 50 : 1000); ++waited) usleep(10'000);
      _exit(group_signal_seen == SIGUSR1 ? 10 : group_signal_seen == SIGUSR2 ? 12 : 20);
    }
    char byte;
    if (read(ready[0], &byte, 1) != 1) _exit(1);
    return child;
  };
  const pid_t first = start_child(false);
  const pid_t second = start_child(false);
  const pid_t alone = start_child(true);
  std::printf("kill(0, SIGUSR1): %d\n", kill(0, SIGUSR1));
  for (int waited = 0; group_signal_seen == 0 && waited < 1000; ++waited) usleep(10'000);
  std::printf("the caller got it: %s\n", yes(group_signal_seen == SIGUSR1));
  wait_for(first, "a child in the caller's group (10: got SIGUSR1)");
  wait_for(second, "another child in it");
  wait_for(alone, "a child in a group of its own (20: got nothing)");
  const pid_t leader = start_child(true);
  std::printf("kill(-its group, SIGUSR2): %d\n", kill(-leader, SIGUSR2));
  wait_for(leader, "a child leading its own group (12: got SIGUSR2)");
  close(ready[0]);
  close(ready[1]);
  return 0;
}

// A pre-fork worker pool: the parent listens on 127.0.0.1:PORT, forks two
// workers that each accept one connection on the shared socket and answer it,
// then connects twice itself and reads both answers.
int worker_pool(const char* port_text) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::atoi(port_text)));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int on = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener, 8) != 0) {
    std::printf("listen: %s\n", strerrorname_np(errno));
    return 1;
  }
  pid_t workers[2];
  for (pid_t& worker : workers) {
    std::fflush(stdout);
    worker = fork();
    if (worker == 0) {
      const int connection = accept(listener, nullptr, nullptr);
      const std::string answer = "served by a worker\n";
      _exit(connection >= 0 && write(connection, answer.data(), answer.size()) == static_cast<ssize_t>(answer.size())
                ? 0
                : 1);
    }
  }
  close(listener);  // the workers hold it
  for (int i = 0; i < 2; ++i) {
    const int client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      std::printf("connect: %s\n", strerrorname_np(errno));
      return 1;
    }
    char answer[64] = {};
    std::size_t got = 0;
    for (ssize_t now = 1; now > 0 && got < sizeof answer - 1; got += static_cast<std::size_t>(now > 0 ? now : 0)) {
      now = read(client, answer + got, sizeof answer - 1 - got);
    }
    std::printf("connection %d: %s", i + 1, answer);
    close(client);
  }
  for (const pid_t worker : workers) wait_for(worker, "worker");
  return 0;
}

// For `hyperlet snapshot`: only the child calls access, then the parent
// calls getcwd while its ended child is not yet waited for.
int snapshot_after_fork() {
  int done[2];
  if (pipe(done) != 0) return 1;
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    const int found = access("/", F_OK);
    _exit(found == 0 && write(done[1], "d", 1) == 1 ? 0 : 1);
  }
  char byte;
  if (read(done[0], &byte, 1) != 1) return 1;
  char directory[256];
  std::printf("getcwd: %s\n", getcwd(directory, sizeof directory) != nullptr ? "yes" : "no");
  wait_for(child, "child");
  return 0;
}

// A child that ends while its parent sleeps (SIGCHLD, no handler) does not
// lengthen the sleep: it goes on for the time it had left.
int sleep_through_sigchld() {
  int started[2];
  if (pipe(started) != 0) return 1;
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    if (write(started[1], "x", 1) != 1) _exit(1);
    usleep(1'000'000);
    _exit(0);
  }
  char byte;
  if (read(started[0], &byte, 1) != 1) return 1;
  timespec begun{};
  clock_gettime(CLOCK_MONOTONIC, &begun);
  const timespec two_seconds{2, 0};
  const int slept = nanosleep(&two_seconds, nullptr);
  timespec ended{};
  clock_gettime(CLOCK_MONOTONIC, &ended);
  const long elapsed_ms = (ended.tv_sec - begun.tv_sec) * 1000 + (ended.tv_nsec - begun.tv_nsec) / 1'000'000;
  std::printf("nanosleep(2 s) across the child's end: %d, took 2 s, not 3: %s\n", slept,
              yes(elapsed_ms >= 1990 && elapsed_ms < 2700));
  wait_for(child, "child");
  return 0;
}

// A daemon's fork then setsid: the child leads a new session and group, which
// its exec keeps; a session leader can neither start another nor change group.
int new_session() {
  const pid_t parent_group = getpgrp();
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    std::printf("child starts in its parent's group: %s\n", yes(getpgrp() == parent_group));
    const pid_t session = setsid();
    std::printf("setsid answers its pid: %s; it leads its session and group: %s %s\n", yes(session == getpid()),
                yes(getsid(0) == getpid()), yes(getpgid(0) == getpid()));
    std::printf("setsid again: %s, setpgid(0, 0): %s\n", setsid() < 0 ? strerrorname_np(errno) : "0",
                setpgid(0, 0) < 0 ? strerrorname_np(errno) : "0");
    std::fflush(stdout);
    char* const arguments[] = {const_cast<char*>("processes"), const_cast<char*>("session-after-exec"), nullptr};
    execv("/proc/self/exe", arguments);
    _exit(99);
  }
  wait_for(child, "child");
  return 0;
}

// execveat relative to a directory fd, and of an fd's own file (fexecve, an
// O_PATH fd); its errors. DIR holds a copy of this program, a symlink to it
// named "link", and plain.txt (no execute bit).
int exec_at(const char* dir) {
  const int directory = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const std::string self = std::string(dir) + "/processes";
  const int readable = open(self.c_str(), O_RDONLY);
  const int path_only = open(self.c_str(), O_PATH);
  if (directory < 0 || readable < 0 || path_only < 0) {
    std::printf("open: %s\n", strerrorname_np(errno));
    return 1;
  }
  const auto run_child = [](const char* what, const char* status, auto exec) {
    char* const arguments[] = {const_cast<char*>("processes"), const_cast<char*>("exit-with"),
                               const_cast<char*>(status), nullptr};
    std::fflush(stdout);
    const pid_t child = fork();
    if (child == 0) {
      exec(arguments);
      _exit(99);
    }
    wait_for(child, what);
  };
  run_child("execveat(dir, \"processes\")", "31",
            [&](char* const* arguments) { syscall(SYS_execveat, directory, "processes", arguments, environ, 0); });
  run_child("fexecve(fd)", "32", [&](char* const* arguments) { fexecve(readable, arguments, environ); });
  run_child("execveat(O_PATH fd, \"\", AT_EMPTY_PATH)", "33",
            [&](char* const* arguments) { syscall(SYS_execveat, path_only, "", arguments, environ, AT_EMPTY_PATH); });
  char* const arguments[] = {const_cast<char*>("processes"), nullptr};
  const auto show_error = [](const char* what, long result) {
    std::printf("%s: %s\n", what, result < 0 ? strerrorname_np(errno) : "ran");
  };
  show_error("execveat of a missing name", syscall(SYS_execveat, directory, "missing", arguments, environ, 0));
  show_error("execveat of a symlink with AT_SYMLINK_NOFOLLOW",
             syscall(SYS_execveat, directory, "link", arguments, environ, AT_SYMLINK_NOFOLLOW));
  const int plain = open((std::string(dir) + "/plain.txt").c_str(), O_RDONLY);
  show_error("fexecve of a file without an execute bit", fexecve(plain, arguments, environ));
  show_error("execveat of no fd", syscall(SYS_execveat, 999, "", arguments, environ, AT_EMPTY_PATH));
  show_error("execveat with unknown flags", syscall(SYS_execveat, directory, "processes", arguments, environ, 0x4));
  int ends[2];
  if (pipe(ends) != 0) return 1;
  show_error("fexecve of a pipe", fexecve(ends[0], arguments, environ));
  return 0;
}

// execve in place: the pid stays, close-on-exec fds close, the others stay,
// ignored signals stay ignored and handled ones go back to the default.
int exec_self(const char* self) {
  int plain_pipe[2];
  int cloexec_pipe[2];
  if (pipe(plain_pipe) != 0 || pipe2(cloexec_pipe, O_CLOEXEC) != 0) return 1;
  const int kept = plain_pipe[0];
  const int closed = cloexec_pipe[0];
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, [](int) {});
  // Pending signals stay pending across exec, a signalfd stays one.
  sigset_t blocked;
  sigemptyset(&blocked);
  for (const int signal_number : {SIGHUP, SIGTERM, SIGRTMIN + 1}) sigaddset(&blocked, signal_number);
  sigprocmask(SIG_BLOCK, &blocked, nullptr);
  sigset_t hangup;
  sigemptyset(&hangup);
  sigaddset(&hangup, SIGHUP);
  const int watching = signalfd(-1, &hangup, 0);
  const int watching_cloexec = signalfd(-1, &hangup, SFD_CLOEXEC);
  raise(SIGHUP);            // the thread's
  kill(getpid(), SIGTERM);  // the process's
  sigqueue(getpid(), SIGRTMIN + 1, sigval{7});
  sigqueue(getpid(), SIGRTMIN + 1, sigval{8});
  const std::string pid = std::to_string(getpid());
  const std::string kept_text = std::to_string(kept);
  const std::string closed_text = std::to_string(closed);
  const std::string watching_text = std::to_string(watching);
  const std::string watching_cloexec_text = std::to_string(watching_cloexec);
  char* const arguments[] = {const_cast<char*>("processes"),
                             const_cast<char*>("after-exec"),
                             const_cast<char*>(pid.c_str()),
                             const_cast<char*>(kept_text.c_str()),
                             const_cast<char*>(closed_text.c_str()),
                             const_cast<char*>(watching_text.c_str()),
                             const_cast<char*>(watching_cloexec_text.c_str()),
                             nullptr};
  char* const environment[] = {const_cast<char*>("GREETING=hello across exec"), nullptr};
  std::fflush(stdout);
  execve(self, arguments, environment);
  std::printf("execve failed: %s\n", strerrorname_np(errno));
  return 1;
}

int after_exec(char** argv) {
  std::printf("after exec: argv[0] %s, pid kept: %s\n", argv[0], yes(std::to_string(getpid()) == argv[2]));
  std::printf("environment: %s\n", std::getenv("GREETING") != nullptr ? std::getenv("GREETING") : "(none)");
  std::printf("fd without O_CLOEXEC open: %s, with O_CLOEXEC closed: %s\n",
              yes(fcntl(std::atoi(argv[3]), F_GETFD) >= 0), yes(fcntl(std::atoi(argv[4]), F_GETFD) < 0));
  struct sigaction action {};
  sigaction(SIGUSR1, nullptr, &action);
  std::printf("SIGUSR1 still ignored: %s\n", yes(action.sa_handler == SIG_IGN));
  sigaction(SIGUSR2, nullptr, &action);
  std::printf("SIGUSR2 back to default: %s\n", yes(action.sa_handler == SIG_DFL));

  sigset_t pending;
  sigpending(&pending);
  std::printf("still pending: SIGHUP %s, SIGTERM %s, SIGRTMIN+1 %s\n", yes(sigismember(&pending, SIGHUP) == 1),
              yes(sigismember(&pending, SIGTERM) == 1), yes(sigismember(&pending, SIGRTMIN + 1) == 1));
  const int watching = std::atoi(argv[5]);
  pollfd readable{watching, POLLIN, 0};
  std::printf("signalfd without O_CLOEXEC readable: %s\n", yes(poll(&readable, 1, 0) == 1));
  signalfd_siginfo record{};
  const ssize_t got = read(watching, &record, sizeof record);
  std::printf("its read: %zd bytes, %s, code %d, from this process: %s\n", got,
              sigabbrev_np(static_cast<int>(record.ssi_signo)), record.ssi_code,
              yes(record.ssi_pid == static_cast<std::uint32_t>(getpid())));
  sigpending(&pending);
  std::printf("then SIGHUP pending: %s, readable: %s\n", yes(sigismember(&pending, SIGHUP) == 1),
              yes(poll(&readable, 1, 0) == 1));
  std::printf("signalfd with O_CLOEXEC closed: %s\n", yes(fcntl(std::atoi(argv[6]), F_GETFD) < 0));
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGRTMIN + 1);
  sigaddset(&waited, SIGTERM);
  for (int i = 0; i < 3; ++i) {
    siginfo_t info{};
    const timespec no_wait{0, 0};
    const int taken = sigtimedwait(&waited, &info, &no_wait);
    if (taken == SIGTERM) {
      std::printf("taken: SIGTERM, code %d, from this process: %s\n", info.si_code, yes(info.si_pid == getpid()));
    } else if (taken > 0) {
      std::printf("taken: SIGRTMIN+%d, code %d, value %d\n", taken - SIGRTMIN, info.si_code, info.si_value.sival_int);
    } else {
      std::printf("taken: nothing (%s)\n", strerrorname_np(errno));
    }
  }
  return 0;
}

// posix_spawn and fork + execve of another program, and execve's errors.
int spawn(const char* self, const char* data_dir) {
  pid_t child = 0;
  char* const arguments[] = {const_cast<char*>("processes"), const_cast<char*>("exit-with"), const_cast<char*>("23"),
                             nullptr};
  std::fflush(stdout);
  const int spawned = posix_spawn(&child, self, nullptr, nullptr, arguments, environ);
  std::printf("posix_spawn: %d\n", spawned);
  if (spawned == 0) wait_for(child, "spawned child");
  std::fflush(stdout);
  child = fork();
  if (child == 0) {
    execve(self, arguments, environ);
    _exit(99);
  }
  wait_for(child, "forked and exec'd child");
  const std::string missing = std::string(data_dir) + "/missing";
  const std::string plain = std::string(data_dir) + "/plain.txt";
  const std::string script = std::string(data_dir) + "/script";
  // posix_spawn answers the child's exec error itself (the child writes it to
  // memory it shares with the parent) and leaves no child behind.
  for (const std::string& path : {missing, plain, script}) {
    std::fflush(stdout);
    const int failed = posix_spawn(&child, path.c_str(), nullptr, nullptr, arguments, environ);
    std::printf("posix_spawn of %s: %s\n", path.substr(path.rfind('/') + 1).c_str(),
                failed == 0 ? "started" : strerrorname_np(failed));
    if (failed == 0) wait_for(child, "spawned child");
  }
  for (const std::string& path : {missing, plain, script}) {
    execve(path.c_str(), arguments, environ);
    std::printf("execve of %s: %s\n", path.substr(path.rfind('/') + 1).c_str(), strerrorname_np(errno));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view section = argc > 1 ? argv[1] : "";
  if (section == "cow") return copy_on_write();
  if (section == "pipe") return pipe_between();
  if (section == "shared-memory") return shared_memory();
  if (section == "shared-futexes") return shared_futexes(false);
  if (section == "posix-shm" && argc > 2) return posix_shm(argv[2]);
  if (section == "shared-wait-alarm") {
    // A process-shared wait nobody ends, ended by the process's own timer.
    auto* semaphore =
        static_cast<sem_t*>(mmap(nullptr, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    sem_init(semaphore, 1, 0);
    struct sigaction action {};
    action.sa_handler = [](int) { global_value = 7; };
    sigaction(SIGALRM, &action, nullptr);  // no SA_RESTART
    const itimerval in_50ms{{0, 0}, {0, 50'000}};
    setitimer(ITIMER_REAL, &in_50ms, nullptr);
    const int waited = sem_wait(semaphore);
    std::printf("the wait ended by the timer: %s, the handler ran: %s\n", waited == 0 ? "no" : strerrorname_np(errno),
                yes(global_value == 7));
    return 0;
  }
  if (section == "many-shared") {
    // More shared mappings than the guest kernel keeps (256): the one too many
    // is ENOMEM and leaves nothing behind; after munmap they can be made again.
    std::vector<void*> mapped;
    int failure = 0;
    for (int i = 0; i < 300 && failure == 0; ++i) {
      void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      if (page == MAP_FAILED) {
        failure = errno;
      } else {
        mapped.push_back(page);
      }
    }
    std::printf("mapped %zu, then %s\n", mapped.size(), failure == 0 ? "no failure" : strerrorname_np(failure));
    for (void* page : mapped) munmap(page, 4096);
    auto* again = static_cast<int*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    if (again == MAP_FAILED) return 1;
    std::fflush(stdout);
    const pid_t child = fork();
    if (child == 0) {
      *again = 5;
      std::exit(0);
    }
    wait_for(child, "child");
    std::printf("after munmap a new one is shared again: %s\n", yes(*again == 5));
    return 0;
  }
  if (section == "shared-then-getcwd") {
    // (For `hyperlet snapshot --at-syscall getcwd`: shared memory is mapped by then.)
    void* shared = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char directory[256];
    std::printf("mapped: %s, getcwd: %s\n", yes(shared != MAP_FAILED), yes(getcwd(directory, sizeof directory)));
    return 0;
  }
  if (section == "shared-futexes-threads") return shared_futexes(true);
  if (section == "signals") return signals();
  if (section == "waiting") return waiting();
  if (section == "file" && argc > 2) return shared_file(argv[2]);
  if (section == "threads") return with_threads();
  if (section == "vfork" && argc > 2) return vfork_exit(argv[2]);
  if (section == "signal-parent") return signal_parent();
  if (section == "sleep-sigchld") return sleep_through_sigchld();
  if (section == "relayed-signals") return relayed_signals();
  if (section == "group-signals") return group_signals();
  if (section == "siginfo") return siginfo_between();
  if (section == "snapshot-after-fork") return snapshot_after_fork();
  if (section == "worker-pool" && argc > 2) return worker_pool(argv[2]);
  if (section == "sigchld") return child_signal();
  if (section == "exec" && argc > 2) return exec_self(argv[2]);
  if (section == "after-exec" && argc > 6) return after_exec(argv);
  if (section == "spawn" && argc > 3) return spawn(argv[2], argv[3]);
  if (section == "exit-with" && argc > 2) return std::atoi(argv[2]);
  if (section == "session") return new_session();
  if (section == "execveat" && argc > 2) return exec_at(argv[2]);
  if (section == "session-after-exec") {
    std::printf("after exec it still leads its session and group: %s %s\n", yes(getsid(0) == getpid()),
                yes(getpgrp() == getpid()));
    return 0;
  }
  if (section == "print-args") {
    for (int i = 1; i < argc; ++i) std::printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
    return 0;
  }
  if (section == "run" && argc > 2) {
    execv(argv[2], argv + 2);
    std::printf("execv of %s: %s\n", argv[2], strerrorname_np(errno));
    return 1;
  }
  std::fprintf(stderr,
               "usage: processes cow|pipe|shared-memory|shared-futexes[-threads]|posix-shm NAME|signals|waiting|file "
               "PATH|threads|vfork "
               "DIR|signal-parent|relayed-signals|group-signals|snapshot-after-fork|worker-pool "
               "PORT|sleep-sigchld|session|execveat "
               "DIR|sigchld|exec "
               "SELF|spawn SELF DIR "
               "(DIR holds plain.txt, script)\n");
  return 2;
}
