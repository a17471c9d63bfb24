// What a snapshot must keep and what a restore must renew, one mode per argv[1]:
// state set before hyperlet::ready() (a counter, an open file, a waiting thread)
// is used after it; random bytes and clocks read after it must be fresh.
#include <fcntl.h>
#include <hyperlet/abi.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
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
  } else if (mode == "anonymous") {
    // Pipes (one with bytes waiting, one whose writer is gone), eventfds and
    // timerfds made before the snapshot, used after the restore.
    int waiting[2], closed[2];
    if (pipe(waiting) != 0 || pipe(closed) != 0) return 3;
    if (write(waiting[1], "waiting\n", 8) != 8 || write(closed[1], "last\n", 5) != 5) return 3;
    close(closed[1]);
    const int counter_fd = eventfd(5, 0);
    const int semaphore_fd = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    const int later = timerfd_create(CLOCK_MONOTONIC, 0);
    const int expired = timerfd_create(CLOCK_MONOTONIC, 0);
    const itimerspec in_300ms{{0, 0}, {0, 300'000'000}}, in_1ms{{0, 0}, {0, 1'000'000}};
    if (counter_fd < 0 || semaphore_fd < 0 || later < 0 || expired < 0) return 3;
    if (timerfd_settime(later, 0, &in_300ms, nullptr) != 0 || timerfd_settime(expired, 0, &in_1ms, nullptr) != 0) {
      return 3;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // `expired` has fired, unread
    ready();
    char text[64] = {};
    ssize_t got = read(waiting[0], text, sizeof text - 1);
    std::printf("pipe: %.*s", static_cast<int>(got), text);
    if (write(waiting[1], "more\n", 5) != 5) return 4;
    got = read(waiting[0], text, sizeof text - 1);
    std::printf("pipe again: %.*s", static_cast<int>(got), text);
    got = read(closed[0], text, sizeof text - 1);
    std::printf("closed pipe: %.*s", static_cast<int>(got), text);
    std::printf("closed pipe then: %zd\n", read(closed[0], text, sizeof text));
    std::uint64_t value = 0;
    if (read(counter_fd, &value, sizeof value) != sizeof value) return 5;
    std::printf("eventfd: %llu\n", static_cast<unsigned long long>(value));
    int taken = 0;
    while (read(semaphore_fd, &value, sizeof value) == sizeof value) ++taken;
    std::printf("semaphore: %d\n", taken);
    if (read(expired, &value, sizeof value) != sizeof value) return 6;
    std::printf("expired timer: %s\n", value >= 1 ? "fired" : "not fired");
    const long long before = monotonic_ns();
    if (read(later, &value, sizeof value) != sizeof value) return 7;
    std::printf("later timer: fired %llu, waited %s\n", static_cast<unsigned long long>(value),
                monotonic_ns() - before < 1'000'000'000 ? "under 1 s" : "1 s or more");
  } else if (mode == "getcwd") {
    char directory[256] = {};
    if (syscall(SYS_getcwd, directory, sizeof directory) < 0) return 3;  // --at-syscall getcwd stops here
    std::printf("after getcwd: %s\n", directory);
  }
  return 0;
}
