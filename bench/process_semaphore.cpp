// Process-shared semaphores between a parent and its forked child: µs per
// round trip (the parent posts one, the child answers on the other), N times;
// with `--thread`, the parent also has a second thread (asleep) meanwhile,
// so that under hyperlet its waits are parked rather than blocking the vCPU.
// Median, p90, min and max. The same static binary runs natively and under
// `hyperlet run --processes 1`, where the child is another microVM.
#include <pthread.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace {

struct Semaphores {
  sem_t ping;
  sem_t pong;
};

long long now_ns() {
  timespec time{};
  clock_gettime(CLOCK_MONOTONIC, &time);
  return time.tv_sec * 1'000'000'000ll + time.tv_nsec;
}

void* sleep_until_read(void* argument) {
  char byte = 0;
  const auto ends = static_cast<int*>(argument);
  return read(ends[0], &byte, 1) == 1 ? nullptr : argument;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const bool with_thread = argc > 2 && std::strcmp(argv[2], "--thread") == 0;
  void* memory = mmap(nullptr, sizeof(Semaphores), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  auto* semaphores = new (memory) Semaphores{};
  sem_init(&semaphores->ping, 1, 0);
  sem_init(&semaphores->pong, 1, 0);
  const pid_t child = fork();
  if (child < 0) {
    std::perror("fork");
    return 1;
  }
  if (child == 0) {
    for (int i = 0; i < runs; ++i) {
      sem_wait(&semaphores->ping);
      sem_post(&semaphores->pong);
    }
    _exit(0);
  }
  int ends[2];
  pthread_t sleeper{};
  if (with_thread && (pipe(ends) != 0 || pthread_create(&sleeper, nullptr, sleep_until_read, ends) != 0)) return 1;
  std::vector<long long> samples;
  for (int i = 0; i < runs; ++i) {
    const long long before = now_ns();
    sem_post(&semaphores->ping);
    sem_wait(&semaphores->pong);
    samples.push_back(now_ns() - before);
  }
  if (with_thread) {
    if (write(ends[1], "x", 1) != 1) return 1;
    pthread_join(sleeper, nullptr);
  }
  waitpid(child, nullptr, 0);
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  std::printf("semaphore round trip%s  median %8.1f us  p90 %8.1f  min %8.1f  max %8.1f  (n=%zu)\n",
              with_thread ? " (+thread)" : "          ", static_cast<double>(samples[n / 2]) / 1e3,
              static_cast<double>(samples[n * 9 / 10]) / 1e3, static_cast<double>(samples.front()) / 1e3,
              static_cast<double>(samples.back()) / 1e3, n);
  return 0;
}
