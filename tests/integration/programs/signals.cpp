// Signal delivery, one section per argv[1]; each prints what it observed, the
// same natively as in a microVM (tests/integration/signal_tests.cpp compares).
// Only facts that hold on both are printed: no addresses, no pids.
#include <arpa/inet.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

volatile sig_atomic_t g_count = 0;
volatile sig_atomic_t g_depth = 0;
volatile sig_atomic_t g_max_depth = 0;
volatile sig_atomic_t g_last_signal = 0;
volatile sig_atomic_t g_last_code = 0;
volatile uintptr_t g_last_address = 0;
volatile pid_t g_handler_tid = 0;
volatile bool g_mask_had_own = false;
volatile bool g_on_alternate = false;
sigjmp_buf g_jump;
char g_alternate[64 * 1024];

void say(const char* text) { (void)!write(1, text, std::strlen(text)); }

void install(int signal, void (*handler)(int, siginfo_t*, void*), int flags, const sigset_t* mask = nullptr) {
  struct sigaction action {};
  action.sa_sigaction = handler;
  action.sa_flags = SA_SIGINFO | flags;
  if (mask != nullptr) {
    action.sa_mask = *mask;
  } else {
    sigemptyset(&action.sa_mask);
  }
  if (sigaction(signal, &action, nullptr) != 0) std::perror("sigaction");
}

void counting(int signal, siginfo_t* info, void* context) {
  g_count = g_count + 1;
  g_last_signal = signal;
  g_last_code = info->si_code;
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  g_mask_had_own = sigismember(&now, signal) == 1;
  auto* uc = static_cast<ucontext_t*>(context);
  // The interrupted context is readable the way glibc lays it out.
  if (uc->uc_mcontext.gregs[REG_RIP] == 0 || uc->uc_mcontext.fpregs == nullptr) say("bad ucontext\n");
  g_handler_tid = static_cast<pid_t>(syscall(SYS_gettid));
}

void print_mask_has(const char* what, int signal) {
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  std::printf("%s: %s\n", what, sigismember(&now, signal) == 1 ? "blocked" : "not blocked");
}

int basic() {
  install(SIGUSR1, counting, 0);
  raise(SIGUSR1);
  std::printf("raise: handler ran %d time(s), signal %d, code %s, own signal blocked inside: %s\n", g_count,
              g_last_signal, g_last_code == SI_TKILL ? "SI_TKILL" : "other", g_mask_had_own ? "yes" : "no");
  print_mask_has("after the handler", SIGUSR1);
  kill(getpid(), SIGUSR1);
  std::printf("kill: handler ran %d time(s), code %s\n", g_count, g_last_code == SI_USER ? "SI_USER" : "other");
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
  std::printf("tgkill: handler ran %d time(s)\n", g_count);
  syscall(SYS_tkill, syscall(SYS_gettid), SIGUSR1);
  std::printf("tkill: handler ran %d time(s)\n", g_count);
  // std::signal: a plain handler, no SA_SIGINFO.
  std::signal(SIGUSR2, [](int) { g_count = g_count + 1; });
  raise(SIGUSR2);
  std::printf("signal(): handler ran %d time(s)\n", g_count);
  std::fflush(stdout);
  return 0;
}

int mask() {
  install(SIGUSR1, counting, 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  raise(SIGUSR1);
  sigset_t pending;
  sigpending(&pending);
  std::printf("blocked: ran %d, pending %s\n", g_count, sigismember(&pending, SIGUSR1) == 1 ? "yes" : "no");
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  std::printf("unblocked: ran %d\n", g_count);
  sigpending(&pending);
  std::printf("pending now %s\n", sigismember(&pending, SIGUSR1) == 1 ? "yes" : "no");
  // Ignoring a pending signal discards it.
  sigprocmask(SIG_BLOCK, &set, nullptr);
  raise(SIGUSR1);
  std::signal(SIGUSR1, SIG_IGN);
  sigpending(&pending);
  std::printf("ignored while pending: pending %s\n", sigismember(&pending, SIGUSR1) == 1 ? "yes" : "no");
  // SIGKILL and SIGSTOP cannot be blocked.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  print_mask_has("SIGKILL after blocking all", SIGKILL);
  print_mask_has("SIGTERM after blocking all", SIGTERM);
  std::fflush(stdout);
  return 0;
}

void nested(int signal, siginfo_t*, void*) {
  g_count = g_count + 1;
  g_depth = g_depth + 1;
  if (g_depth > g_max_depth) g_max_depth = g_depth;
  if (g_depth < 3 && g_count < 3) raise(signal);
  g_depth = g_depth - 1;
}

void second_from_first(int, siginfo_t*, void*) {
  say("usr1 handler: raising SIGUSR2\n");
  raise(SIGUSR2);
  say("usr1 handler: returning\n");
}

int flags() {
  // SA_NODEFER: the handler interrupts itself.
  install(SIGUSR1, nested, SA_NODEFER);
  raise(SIGUSR1);
  std::printf("SA_NODEFER: ran %d, depth %d\n", g_count, g_max_depth);
  // Without it, a raise inside runs after the handler returns.
  g_count = 0;
  g_max_depth = 0;
  install(SIGUSR1, nested, 0);
  raise(SIGUSR1);
  std::printf("deferred: ran %d, depth %d\n", g_count, g_max_depth);
  // SA_RESETHAND: once, then SIG_DFL.
  g_count = 0;
  install(SIGUSR2, counting, SA_RESETHAND);
  raise(SIGUSR2);
  struct sigaction now {};
  sigaction(SIGUSR2, nullptr, &now);
  std::printf("SA_RESETHAND: ran %d, now %s\n", g_count, now.sa_handler == SIG_DFL ? "SIG_DFL" : "still set");
  // sa_mask: SIGUSR2 waits for the SIGUSR1 handler to return.
  std::fflush(stdout);
  sigset_t block_usr2;
  sigemptyset(&block_usr2);
  sigaddset(&block_usr2, SIGUSR2);
  install(SIGUSR1, second_from_first, 0, &block_usr2);
  std::signal(SIGUSR2, [](int) { say("usr2 handler\n"); });
  raise(SIGUSR1);
  say("main: after raise\n");
  return 0;
}

void on_alternate(int, siginfo_t*, void*) {
  char local = 0;
  const auto here = reinterpret_cast<uintptr_t>(&local);
  const auto base = reinterpret_cast<uintptr_t>(g_alternate);
  g_on_alternate = here > base && here < base + sizeof(g_alternate);
  stack_t now{};
  sigaltstack(nullptr, &now);
  g_last_code = now.ss_flags;
}

int altstack() {
  stack_t stack{};
  stack.ss_sp = g_alternate;
  stack.ss_size = sizeof(g_alternate);
  if (sigaltstack(&stack, nullptr) != 0) std::perror("sigaltstack");
  install(SIGUSR1, on_alternate, SA_ONSTACK);
  raise(SIGUSR1);
  std::printf("SA_ONSTACK: on the alternate stack %s, ss_flags inside %s\n", g_on_alternate ? "yes" : "no",
              g_last_code == SS_ONSTACK ? "SS_ONSTACK" : "other");
  install(SIGUSR2, on_alternate, 0);
  raise(SIGUSR2);
  std::printf("without SA_ONSTACK: on the alternate stack %s\n", g_on_alternate ? "yes" : "no");
  stack_t now{};
  sigaltstack(nullptr, &now);
  std::printf("outside: ss_flags %d, size %zu\n", now.ss_flags, now.ss_size);
  stack.ss_flags = SS_DISABLE;
  sigaltstack(&stack, nullptr);
  sigaltstack(nullptr, &now);
  std::printf("disabled: ss_flags %s\n", now.ss_flags == SS_DISABLE ? "SS_DISABLE" : "other");
  std::fflush(stdout);
  return 0;
}

void clobbering(int, siginfo_t*, void*) {
  // Every register a handler may change: the kernel must put them back.
  asm volatile(
      "mov $-1, %%rbx\n mov $-1, %%r12\n mov $-1, %%r13\n mov $-1, %%r14\n mov $-1, %%r15\n"
      "pcmpeqd %%xmm8, %%xmm8\n pcmpeqd %%xmm0, %%xmm0\n"
      :
      :
      : "rbx", "r12", "r13", "r14", "r15", "xmm0", "xmm8");
  g_count = g_count + 1;
}

int registers() {
  install(SIGUSR1, clobbering, 0);
  const long pid = getpid();
  const long tid = syscall(SYS_gettid);
  uint64_t out[8] = {};
  // Values in registers across a tgkill that runs the handler on its way back.
  register uint64_t* out_register asm("r9") = out;
  long result = SYS_tgkill;
  asm volatile(
      "push %%rbx\n push %%rbp\n push %%r12\n push %%r13\n push %%r14\n push %%r15\n"
      "mov $0x1111, %%rbx\n mov $0x2222, %%rbp\n mov $0x3333, %%r12\n mov $0x4444, %%r13\n"
      "mov $0x5555, %%r14\n mov $0x6666, %%r15\n"
      "mov $0x7777, %%r8\n movq %%r8, %%xmm8\n"
      "syscall\n"
      "mov %%rbx, 0(%%r9)\n mov %%rbp, 8(%%r9)\n mov %%r12, 16(%%r9)\n mov %%r13, 24(%%r9)\n"
      "mov %%r14, 32(%%r9)\n mov %%r15, 40(%%r9)\n movq %%xmm8, %%r8\n mov %%r8, 48(%%r9)\n"
      "pop %%r15\n pop %%r14\n pop %%r13\n pop %%r12\n pop %%rbp\n pop %%rbx\n"
      : "+a"(result)
      : "D"(pid), "S"(tid), "d"(SIGUSR1), "r"(out_register)
      : "rcx", "r8", "r10", "r11", "xmm8", "memory");
  out[7] = static_cast<uint64_t>(result);
  std::printf("handler ran %d; rbx %#lx rbp %#lx r12 %#lx r13 %#lx r14 %#lx r15 %#lx xmm8 %#lx; tgkill returned %ld\n",
              g_count, out[0], out[1], out[2], out[3], out[4], out[5], out[6], static_cast<long>(out[7]));
  std::fflush(stdout);
  return 0;
}

int sigpipe() {
  install(SIGPIPE, counting, 0);
  int fds[2];
  if (pipe(fds) != 0) return 3;
  close(fds[0]);
  const ssize_t wrote = write(fds[1], "x", 1);
  std::printf("write to a pipe without reader: %zd (%s), SIGPIPE handler ran %d time(s), signal %d\n", wrote,
              wrote < 0 ? strerrorname_np(errno) : "written", g_count, g_last_signal);
  std::fflush(stdout);
  return 0;
}

// ---- threads ----
std::atomic<int> g_futex{0};
std::atomic<bool> g_waiting{false};

void* futex_waiter(void* restart) {
  g_waiting = true;
  const long result = syscall(SYS_futex, &g_futex, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  const int error = result < 0 ? errno : 0;
  std::printf("waiter: futex returned %ld (%s), handler ran in this thread: %s%s\n", result,
              error == 0 ? "woken" : strerrorname_np(error),
              g_handler_tid == static_cast<pid_t>(syscall(SYS_gettid)) ? "yes" : "no",
              restart != nullptr ? ", after a restart" : "");
  return nullptr;
}

// Lets the other thread run on until it blocks: natively it runs in parallel
// while this one sleeps; in a microVM a host sleep stops every thread, and
// sched_yield hands the vCPU over.
void let_others_run() {
  for (int i = 0; i < 20; ++i) {
    usleep(1000);
    sched_yield();
  }
}

void wait_until_waiting() {
  while (!g_waiting) sched_yield();
  let_others_run();  // into the futex wait
}

int threads() {
  // The mask is per thread, and a new thread inherits its creator's.
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &usr2, nullptr);
  pthread_t child;
  pthread_create(
      &child, nullptr,
      [](void*) -> void* {
        print_mask_has("child inherits SIGUSR2", SIGUSR2);
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
        print_mask_has("child blocked SIGUSR1", SIGUSR1);
        return nullptr;
      },
      nullptr);
  pthread_join(child, nullptr);
  print_mask_has("main's SIGUSR1 after the child blocked its own", SIGUSR1);
  std::fflush(stdout);

  // pthread_kill to a thread in a futex wait: the handler runs there and the
  // wait ends with EINTR (no SA_RESTART).
  install(SIGUSR1, counting, 0);
  pthread_t waiter;
  pthread_create(&waiter, nullptr, futex_waiter, nullptr);
  wait_until_waiting();
  pthread_kill(waiter, SIGUSR1);
  pthread_join(waiter, nullptr);
  std::printf("main: handler ran %d time(s)\n", g_count);
  std::fflush(stdout);

  // With SA_RESTART the wait goes on after the handler, until a real wake.
  install(SIGUSR1, counting, SA_RESTART);
  g_waiting = false;
  g_handler_tid = 0;
  static int restarting = 1;
  pthread_create(&waiter, nullptr, futex_waiter, &restarting);
  wait_until_waiting();
  pthread_kill(waiter, SIGUSR1);
  while (g_handler_tid == 0) let_others_run();
  let_others_run();  // back into the restarted wait
  g_futex = 1;
  syscall(SYS_futex, &g_futex, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  pthread_join(waiter, nullptr);
  std::printf("main: handler ran %d time(s)\n", g_count);
  std::fflush(stdout);
  return 0;
}

// sigsuspend with a signal already pending, and one sent by another thread
// while waiting; the mask from before comes back after the handler.
int suspend() {
  install(SIGUSR1, counting, 0);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, nullptr);
  raise(SIGUSR1);
  sigset_t none;
  sigemptyset(&none);
  int result = sigsuspend(&none);
  std::printf("pending first: sigsuspend returned %d (%s), handler ran %d\n", result, strerrorname_np(errno), g_count);
  print_mask_has("after sigsuspend", SIGUSR1);
  static pthread_t main_thread;
  main_thread = pthread_self();
  pthread_t sender;
  pthread_create(
      &sender, nullptr,
      [](void*) -> void* {
        usleep(20000);
        pthread_kill(main_thread, SIGUSR1);
        return nullptr;
      },
      nullptr);
  result = sigsuspend(&none);
  std::printf("sent while waiting: sigsuspend returned %d (%s), handler ran %d\n", result, strerrorname_np(errno),
              g_count);
  pthread_join(sender, nullptr);
  print_mask_has("after sigsuspend", SIGUSR1);
  std::fflush(stdout);
  return 0;
}

// sigwaitinfo / sigtimedwait / sigwait take blocked signals whose action is
// the default (terminate) without running anything.
int timedwait() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  raise(SIGUSR1);
  siginfo_t info{};
  int taken = sigwaitinfo(&set, &info);
  std::printf("sigwaitinfo with SIGUSR1 pending: %d, si_signo %d, code %s\n", taken, info.si_signo,
              info.si_code == SI_TKILL ? "SI_TKILL" : "other");
  const timespec short_wait{0, 50'000'000};
  taken = sigtimedwait(&set, &info, &short_wait);
  std::printf("sigtimedwait with nothing pending: %d (%s)\n", taken, strerrorname_np(errno));
  static pthread_t main_thread;
  main_thread = pthread_self();
  pthread_t sender;
  pthread_create(
      &sender, nullptr,
      [](void*) -> void* {
        usleep(20000);
        pthread_kill(main_thread, SIGUSR2);
        return nullptr;
      },
      nullptr);
  int which = 0;
  const int error = sigwait(&set, &which);
  std::printf("sigwait for a signal another thread sends: error %d, signal %d\n", error, which);
  pthread_join(sender, nullptr);
  std::fflush(stdout);
  return 0;
}

// pthread_cancel of a thread blocked in a cancellation point that waits on a
// futex (sem_wait): glibc's SIGCANCEL handler runs there and unwinds it.
int cancel() {
  static sem_t never;
  sem_init(&never, 0, 0);
  g_waiting = false;
  pthread_t waiter;
  pthread_create(
      &waiter, nullptr,
      [](void*) -> void* {
        pthread_cleanup_push([](void*) { say("cleanup handler ran\n"); }, nullptr);
        g_waiting = true;
        sem_wait(&never);
        pthread_cleanup_pop(0);
        say("sem_wait returned?\n");
        return nullptr;
      },
      nullptr);
  wait_until_waiting();
  pthread_cancel(waiter);
  void* result = nullptr;
  pthread_join(waiter, &result);
  std::printf("joined: %s\n", result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "something else");
  std::fflush(stdout);
  return 0;
}

// pthread_cancel of a thread blocked in read on a pipe nobody writes: in a
// microVM with two threads that read is parked, and the cancel must end it.
int cancel_read() {
  static int fds[2];
  if (pipe(fds) != 0) return 1;
  g_waiting = false;
  pthread_t reader;
  pthread_create(
      &reader, nullptr,
      [](void*) -> void* {
        pthread_cleanup_push([](void*) { say("reader's cleanup handler ran\n"); }, nullptr);
        g_waiting = true;
        char byte = 0;
        const ssize_t got = read(fds[0], &byte, 1);
        say(got < 0 ? "read failed?\n" : "read returned?\n");
        pthread_cleanup_pop(0);
        return nullptr;
      },
      nullptr);
  wait_until_waiting();
  pthread_cancel(reader);
  void* result = nullptr;
  pthread_join(reader, &result);
  std::printf("joined the reader: %s\n", result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "something else");
  std::fflush(stdout);
  return 0;
}

// ---- synchronous faults ----
void recovering(int signal, siginfo_t* info, void*) {
  g_last_signal = signal;
  g_last_code = info->si_code;
  g_last_address = reinterpret_cast<uintptr_t>(info->si_addr);
  siglongjmp(g_jump, 1);
}

const char* code_name(int signal, int code) {
  if (signal == SIGSEGV) return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
  if (signal == SIGFPE) return code == FPE_INTDIV ? "FPE_INTDIV" : "other";
  if (signal == SIGILL) return code == ILL_ILLOPN ? "ILL_ILLOPN" : "other";
  if (signal == SIGBUS) return code == BUS_ADRERR ? "BUS_ADRERR" : "other";
  return code == SI_KERNEL ? "SI_KERNEL" : "other";
}

template <typename Body>
void expect_fault(const char* what, int signal, Body body) {
  install(signal, recovering, SA_ONSTACK);
  g_last_signal = 0;
  if (sigsetjmp(g_jump, 1) == 0) {
    body();
    std::printf("%s: no fault\n", what);
  } else {
    std::printf("%s: signal %d (%s)\n", what, g_last_signal, code_name(g_last_signal, g_last_code));
  }
  std::fflush(stdout);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
int recurse(int depth) {
  volatile char buffer[1024];
  buffer[0] = static_cast<char>(depth);
  return recurse(depth + 1) + buffer[0];
}
#pragma GCC diagnostic pop

volatile int g_zero = 0;
int* volatile g_low_address = reinterpret_cast<int*>(0x10);

int faults() {
  stack_t stack{};
  stack.ss_sp = g_alternate;
  stack.ss_size = sizeof(g_alternate);
  sigaltstack(&stack, nullptr);
  expect_fault("write to 0x10", SIGSEGV, [] { *static_cast<volatile int*>(g_low_address) = 1; });
  std::printf("  si_addr %#lx\n", static_cast<unsigned long>(g_last_address));
  expect_fault("divide by zero", SIGFPE, [] { std::printf("%d\n", 7 / g_zero); });
  expect_fault("ud2", SIGILL, [] { asm volatile("ud2"); });
  expect_fault("stack overflow", SIGSEGV, [] { std::printf("%d\n", recurse(0)); });
  // A handler that returns after int3 continues after it.
  install(SIGTRAP, counting, 0);
  asm volatile("int3");
  std::printf("int3: SIGTRAP handler ran %d time(s), code %s\n", g_count, code_name(SIGTRAP, g_last_code));
  // The handler fixes the context: skips the faulting 2-byte load, sets rax.
  install(
      SIGSEGV,
      [](int, siginfo_t*, void* context) {
        auto* uc = static_cast<ucontext_t*>(context);
        uc->uc_mcontext.gregs[REG_RIP] += 2;
        uc->uc_mcontext.gregs[REG_RAX] = 42;
      },
      0);
  long value = 0;
  asm volatile("xor %%eax, %%eax\n mov (%%rax), %%eax\n" : "=a"(value) : : "memory");  // 8b 00
  std::printf("context edited by the handler: rax %ld\n", value);
  // Recovered many times: nothing leaks (the mask comes back with siglongjmp).
  int recovered = 0;
  for (int i = 0; i < 200; ++i) {
    install(SIGSEGV, recovering, SA_ONSTACK);
    if (sigsetjmp(g_jump, 1) == 0) {
      *static_cast<volatile int*>(g_low_address + 4) = 1;
    } else {
      ++recovered;
    }
  }
  std::printf("recovered %d of 200\n", recovered);
  std::fflush(stdout);
  return 0;
}

// A fault whose handler cannot run: blocked, or no room for the frame.
int fault_blocked() {
  install(SIGSEGV, recovering, 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGSEGV);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  std::puts("faulting with SIGSEGV blocked");
  std::fflush(stdout);
  *static_cast<volatile int*>(g_low_address) = 1;
  return 3;
}

// An alternate stack the kernel cannot write (PROT_NONE): Linux kills the
// process with SIGSEGV instead of running the handler (status 139).
int bad_altstack(bool fault) {
  void* unusable = mmap(nullptr, 64 * 1024, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  stack_t stack{};
  stack.ss_sp = unusable;
  stack.ss_size = 64 * 1024;
  if (sigaltstack(&stack, nullptr) != 0) std::perror("sigaltstack");
  install(fault ? SIGSEGV : SIGUSR1, counting, SA_ONSTACK);
  std::puts("signalling with an unusable alternate stack");
  std::fflush(stdout);
  if (fault) {
    *static_cast<volatile int*>(g_low_address) = 1;
  } else {
    raise(SIGUSR1);
  }
  std::puts("the handler ran?");
  return 3;
}

int overflow_without_altstack() {
  install(SIGSEGV, recovering, 0);
  if (sigsetjmp(g_jump, 1) == 0) std::printf("%d\n", recurse(0));
  std::puts("recovered without an alternate stack?");
  return 3;
}

// ---- signals sent to the process from outside (hyperlet's) ----
volatile sig_atomic_t g_term = 0;
volatile sig_atomic_t g_usr1 = 0;

int service(const std::string& how) {
  struct sigaction action {};
  action.sa_handler = [](int) { g_term = 1; };
  sigemptyset(&action.sa_mask);
  if (how != "no-handler") sigaction(SIGTERM, &action, nullptr);
  action.sa_handler = [](int) { g_usr1 = g_usr1 + 1; };
  if (how == "read-restart") action.sa_flags = SA_RESTART;  // this read goes on after SIGUSR1, not after SIGTERM
  sigaction(SIGUSR1, &action, nullptr);
  if (how.rfind("accept:", 0) != 0) {
    std::puts("ready");
    std::fflush(stdout);
  }
  if (how == "compute" || how == "no-handler") {
    while (g_term == 0) asm volatile("" ::: "memory");
  } else if (how == "read" || how == "read-restart") {
    char byte;
    const ssize_t got = read(0, &byte, 1);
    std::printf("read returned %zd (%s) after %d SIGUSR1\n", got, got < 0 ? strerrorname_np(errno) : "data",
                static_cast<int>(g_usr1));
  } else if (how.rfind("accept:", 0) == 0) {
    // Blocked in accept on PORT (argv: service-accept:PORT; under hyperlet, published).
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(std::atoi(how.c_str() + 7)));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(listener, 4) != 0) {
      std::perror("bind/listen");
      return 3;
    }
    std::puts("ready");
    std::fflush(stdout);
    const int client = accept(listener, nullptr, nullptr);
    std::printf("accept returned %d (%s)\n", client, client < 0 ? strerrorname_np(errno) : "a connection");
  } else if (how == "usr1") {
    while (g_usr1 < 2) pause();
    std::printf("SIGUSR1 handled %d times\n", g_usr1);
    return 0;
  } else if (how == "pause") {
    while (g_term == 0) pause();
  } else if (how == "stubborn") {
    for (;;) pause();  // the handler runs, the app never ends
  }
  std::puts("draining");
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string section = argc > 1 ? argv[1] : "";
  if (section == "basic") return basic();
  if (section == "mask") return mask();
  if (section == "flags") return flags();
  if (section == "altstack") return altstack();
  if (section == "registers") return registers();
  if (section == "threads") return threads();
  if (section == "sigpipe") return sigpipe();
  if (section == "cancel") return cancel();
  if (section == "cancel-read") return cancel_read();
  if (section == "suspend") return suspend();
  if (section == "timedwait") return timedwait();
  if (section == "faults") return faults();
  if (section == "fault-blocked") return fault_blocked();
  if (section == "bad-altstack") return bad_altstack(false);
  if (section == "bad-altstack-fault") return bad_altstack(true);
  if (section == "overflow-without-altstack") return overflow_without_altstack();
  if (section.rfind("service-", 0) == 0) return service(section.substr(8));
  std::fprintf(stderr, "unknown section '%s'\n", section.c_str());
  return 2;
}
