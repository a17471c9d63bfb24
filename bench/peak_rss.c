/* peak_rss COMMAND [ARGS...]: runs COMMAND and prints its peak resident set
 * size to stderr as one line "peak_rss: maxrss_kib=N status=S", then exits
 * with COMMAND's exit status (128+signal if it was killed).
 *
 * Why not getrusage(RUSAGE_CHILDREN) in the benchmark script: at exec the
 * kernel folds the high-water RSS of the pre-exec address space into the
 * child's ru_maxrss, and a child forked (or vforked) from python3 starts with
 * python's ~13 MiB. This launcher is static and small, so what it reports is
 * the command's own peak. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: peak_rss COMMAND [ARGS...]\n");
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "peak_rss: fork: %s\n", strerror(errno));
    return 2;
  }
  if (child == 0) {
    execvp(argv[1], argv + 1);
    fprintf(stderr, "peak_rss: exec %s: %s\n", argv[1], strerror(errno));
    _exit(127);
  }
  int status = 0;
  struct rusage usage;
  if (wait4(child, &status, 0, &usage) < 0) {
    fprintf(stderr, "peak_rss: wait4: %s\n", strerror(errno));
    return 2;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  fprintf(stderr, "peak_rss: maxrss_kib=%ld status=%d\n", usage.ru_maxrss, code);
  return code;
}
