// Calls clock_gettime(CLOCK_MONOTONIC) 100000 times (or argv[1] times) and
// prints the mean cost per call. Run under `hyperlet run --stats`: if
// clock_gettime traps into the guest kernel, the syscall count shows one
// clock_gettime per call; if it exits to the host, the VM exits grow with the
// count (scripts/bench-boot compares 100000 calls with 10).
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr long kDefaultIterations = 100000;

std::int64_t to_ns(const timespec& time) {
  return static_cast<std::int64_t>(time.tv_sec) * 1000000000 + time.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = kDefaultIterations;
  if (argc > 1) {
    char* end = nullptr;
    iterations = std::strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || iterations < 1) {
      std::fprintf(stderr, "usage: clock_loop [CALLS]  (CALLS >= 1, default %ld)\n", kDefaultIterations);
      return 2;
    }
  }
  timespec start{};
  timespec now{};
  if (clock_gettime(CLOCK_MONOTONIC, &start) != 0) {
    std::perror("clock_gettime");
    return 1;
  }
  std::int64_t checksum = 0;
  for (long i = 0; i < iterations; ++i) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    checksum += now.tv_nsec & 1;
  }
  const std::int64_t elapsed = to_ns(now) - to_ns(start);
  if (elapsed <= 0) {
    std::fprintf(stderr, "clock_loop: CLOCK_MONOTONIC did not advance (%lld ns)\n",
                 static_cast<long long>(elapsed));
    return 1;
  }
  std::printf("clock_gettime(CLOCK_MONOTONIC): %.1f ns/call over %ld calls (%lld ns total, checksum %lld)\n",
              static_cast<double>(elapsed) / static_cast<double>(iterations), iterations, static_cast<long long>(elapsed),
              static_cast<long long>(checksum));
  return 0;
}
