// Signal delivery round trip: raise(SIGUSR1) with an SA_SIGINFO handler that
// only counts, 2000 times, microseconds per round trip (tgkill, frame built on
// the way back to ring 3, the handler, rt_sigreturn), median of 7 batches; and
// the app's own SIGSEGV handler skipping a faulting load (fault → handler →
// rt_sigreturn). The same binary runs natively and under `hyperlet run`.
#include <signal.h>
#include <ucontext.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <vector>

namespace {

volatile sig_atomic_t g_count = 0;

double now_us() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

template <typename Body>
double median_us_per_call(int calls, Body body) {
  std::vector<double> batches;
  for (int batch = 0; batch < 7; ++batch) {
    const double start = now_us();
    for (int i = 0; i < calls; ++i) body();
    batches.push_back((now_us() - start) / calls);
  }
  std::sort(batches.begin(), batches.end());
  return batches[batches.size() / 2];
}

}  // namespace

int main() {
  struct sigaction action {};
  action.sa_sigaction = [](int, siginfo_t*, void*) { g_count = g_count + 1; };
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGUSR1, &action, nullptr);
  action.sa_sigaction = [](int, siginfo_t*, void* context) {
    static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP] += 2;  // over `mov (%rax), %eax`
  };
  sigaction(SIGSEGV, &action, nullptr);
  const double raise_us = median_us_per_call(2000, [] { raise(SIGUSR1); });
  const double fault_us = median_us_per_call(500, [] {
    asm volatile("xor %%eax, %%eax\n mov (%%rax), %%eax\n" : : : "rax", "memory");
  });
  std::printf(
      "raise + handler + sigreturn: %.2f us; SIGSEGV fault + handler + sigreturn: %.2f us (handler ran %d times)\n",
      raise_us, fault_us, static_cast<int>(g_count));
  return 0;
}
