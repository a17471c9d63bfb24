// A stripped static musl program with threads, as a C user builds one. musl is
// compiled without unwind tables and `strip` drops its symbols, so nothing tells
// the site analysis where musl's thread start (reached only through the pointer
// pthread_create hands to __clone) begins: its `syscall`s are found as they run.
// Prints, in order: "usr1", three "worker N" (joined in turn), "read N".
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void* worker(void* argument) {
  const struct timespec pause = {0, 1000000};
  nanosleep(&pause, 0);
  return argument;
}

static void on_usr1(int signal_number) {
  (void)signal_number;
  (void)!write(1, "usr1\n", 5);
}

int main(void) {
  signal(SIGUSR1, on_usr1);
  raise(SIGUSR1);
  pthread_t threads[3];
  for (long i = 0; i < 3; ++i) pthread_create(&threads[i], 0, worker, (void*)i);
  for (int i = 0; i < 3; ++i) {
    void* result = 0;
    pthread_join(threads[i], &result);
    printf("worker %ld\n", (long)result);
  }
  char buffer[64];
  printf("read %zd\n", read(0, buffer, sizeof buffer));
  return 0;
}
