// What a snapshot must keep and what a restore must renew, one mode per argv[1]:
// state set before hyperlet::ready() (a counter, an open file, a waiting thread)
// is used after it; random bytes and clocks read after it must be fresh.
#include <fcntl.h>
#include <hyperlet/abi.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>

namespace {

volatile int counter = 0;

extern "C" __attribute__((noinline)) int crash_after_restore(volatile int* pointer) { return *pointer; }

void ready() { syscall(static_cast<long>(hyperlet::abi::kSyscallReady)); }

long long monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1'000'000'000ll + now.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "counter";
  counter = 41;
  std::printf("before ready\n");
  std::fflush(stdout);
  if (mode == "counter" || mode == "sleep") {
    const long long before = monotonic_ns();
    ready();
    counter = counter + 1;
    unsigned char bytes[8];
    if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes) return 3;
    std::printf("after ready: counter %d\nrandom %02x%02x%02x%02x%02x%02x%02x%02x\n", counter, bytes[0], bytes[1],
                bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
    std::printf("realtime %lld\nmonotonic %s\n", static_cast<long long>(time(nullptr)),
                monotonic_ns() >= before ? "forward" : "BACKWARD");
    std::fflush(stdout);
    if (mode == "sleep") {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      std::printf("after sleep: counter %d\n", counter);
    }
  } else if (mode == "file") {
    const int fd = open("/data/log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0 || write(fd, "one\n", 4) != 4) return 3;
    ready();
    if (write(fd, "two\n", 4) != 4) return 4;
    std::printf("wrote two\n");
  } else if (mode == "thread") {
    std::mutex mutex;
    std::condition_variable woken;
    bool go = false;
    std::thread waiter([&] {
      std::unique_lock lock(mutex);
      woken.wait(lock, [&] { return go; });
      std::printf("thread saw counter %d\n", counter);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the thread is waiting
    ready();
    {
      std::lock_guard lock(mutex);
      counter = counter + 1;
      go = true;
    }
    woken.notify_one();
    waiter.join();
  } else if (mode == "crash") {
    ready();
    volatile int* null_pointer = nullptr;
    return crash_after_restore(null_pointer);
  } else if (mode == "getcwd") {
    char directory[256] = {};
    if (syscall(SYS_getcwd, directory, sizeof directory) < 0) return 3;  // --at-syscall getcwd stops here
    std::printf("after getcwd: %s\n", directory);
  }
  return 0;
}
