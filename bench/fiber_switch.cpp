// Fiber switch cost (<hyperlet/fiber.h>), the same static binary natively and in
// a microVM: two fibers yield to each other N times; prints ns per switch (the
// scheduler resumes a fiber once per yield). docs/PERFORMANCE.md, "Fibers".
#include <hyperlet/fiber.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const long yields = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  if (yields <= 0) return 2;
  hyperlet::fiber::Scheduler scheduler;
  for (int i = 0; i < 2; ++i) {
    scheduler.spawn([yields] {
      for (long n = 0; n < yields; ++n) hyperlet::fiber::yield();
    });
  }
  const auto start = std::chrono::steady_clock::now();
  scheduler.run();
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  const auto switches = scheduler.counters().switches;
  std::printf("fiber switch: %.1f ns (%llu switches)\n", ns / static_cast<double>(switches),
              static_cast<unsigned long long>(switches));
  return 0;
}
