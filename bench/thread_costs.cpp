// What threads cost, the same static binary natively and in a microVM:
//   thread_costs start N      N x (std::thread create + join), one at a time
//   thread_costs malloc N     one new thread makes N mallocs of 64 bytes and frees them
//   thread_costs pingpong N   two threads hand a turn back and forth N times
//                             (mutex + condition variable: futex wait and wake)
// Each prints microseconds per operation (docs/PERFORMANCE.md, "Threads").
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace {

double microseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: thread_costs start|malloc|pingpong N\n");
    return 2;
  }
  const int count = std::atoi(argv[2]);
  if (count <= 0) return 2;
  const auto start = std::chrono::steady_clock::now();
  if (std::strcmp(argv[1], "start") == 0) {
    for (int i = 0; i < count; ++i) std::thread([] {}).join();
    std::printf("thread create+join: %.1f us each (%d)\n", microseconds_since(start) / count, count);
  } else if (std::strcmp(argv[1], "malloc") == 0) {
    std::thread([count] {
      std::vector<void*> blocks;
      for (int i = 0; i < count; ++i) blocks.push_back(std::malloc(64));
      for (void* block : blocks) std::free(block);
    }).join();
    std::printf("malloc+free in a new thread: %.1f us each (%d, thread start included)\n",
                microseconds_since(start) / count, count);
  } else if (std::strcmp(argv[1], "pingpong") == 0) {
    std::mutex mutex;
    std::condition_variable changed;
    int turn = 0;  // 0: the main thread's, 1: the other's
    std::thread other([&] {
      for (int i = 0; i < count; ++i) {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return turn == 1; });
        turn = 0;
        changed.notify_one();
      }
    });
    for (int i = 0; i < count; ++i) {
      std::unique_lock lock(mutex);
      turn = 1;
      changed.notify_one();
      changed.wait(lock, [&] { return turn == 0; });
    }
    other.join();
    std::printf("mutex ping-pong: %.1f us per round trip (%d, thread start included)\n",
                microseconds_since(start) / count, count);
  } else {
    std::fprintf(stderr, "usage: thread_costs start|malloc|pingpong N\n");
    return 2;
  }
  return 0;
}
