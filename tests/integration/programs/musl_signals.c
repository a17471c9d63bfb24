/* Signals under musl (its own __restore_rt, sigsetjmp and ucontext layout):
 * an SA_SIGINFO handler reading the ucontext, a SIGSEGV handler on an
 * alternate stack leaving by siglongjmp, which restores the mask. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
static volatile int count;
static sigjmp_buf jump;
static char alt[65536];
static int* volatile low_address = (int*)0x30;
static void on_usr1(int s, siginfo_t* i, void* c) {
  ucontext_t* uc = c;
  count += (uc->uc_mcontext.gregs[REG_RIP] != 0) + (i->si_signo == s);
}
static void on_segv(int s, siginfo_t* i, void* c) {
  (void)s;
  (void)c;
  count = (int)(long)i->si_addr;
  siglongjmp(jump, 1);
}
int main(void) {
  struct sigaction a;
  memset(&a, 0, sizeof a);
  a.sa_sigaction = on_usr1;
  a.sa_flags = SA_SIGINFO;
  sigaction(SIGUSR1, &a, 0);
  raise(SIGUSR1);
  printf("usr1: %d\n", count);
  stack_t st = {.ss_sp = alt, .ss_size = sizeof alt};
  sigaltstack(&st, 0);
  a.sa_sigaction = on_segv;
  a.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &a, 0);
  if (sigsetjmp(jump, 1) == 0) *(volatile int*)low_address = 1;
  printf("segv at %#x\n", count);
  sigset_t m;
  sigprocmask(SIG_SETMASK, 0, &m);
  printf("SIGSEGV blocked after siglongjmp: %d\n", sigismember(&m, SIGSEGV));
  return 0;
}
