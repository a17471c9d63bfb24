// A handler for the embedding API's tests (include/hyperlet/host.h): it
// prepares state, calls hyperlet::ready() (the snapshot point), then each run
// reads one line from stdin and reports what it can see of earlier runs: a
// counter in static memory, a marker in a heap block and in a big buffer, the
// next free fd. After a reset every run must report the same, except its
// random bytes. A request "crash" makes the run fault, "wide" also writes 6 MiB
// (more pages than a reset keeps writable); argv[1] "files" opens a
// file on the /data volume, which the reset must close; "threads" leaves a
// thread running when the run ends.
#include <fcntl.h>
#include <hyperlet/abi.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

int runs = 0;
char big_buffer[1 << 20];  // 256 pages: written only after ready()

void ready() { syscall(static_cast<long>(hyperlet::abi::kSyscallReady)); }

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "plain";
  auto* heap = static_cast<char*>(std::malloc(4096));
  std::strcpy(heap, "clean");
  // Memory given back after the snapshot must read as zero when mapped again,
  // not as the snapshot's bytes.
  constexpr std::size_t kMapped = 16 * 4096;
  void* mapped = mmap(nullptr, kMapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return 5;
  std::memset(mapped, 'a', kMapped);
  ready();

  char line[256] = {};
  const ssize_t got = read(0, line, sizeof line - 1);
  if (got < 0) return 3;
  line[got] = '\0';
  if (char* newline = std::strchr(line, '\n')) *newline = '\0';
  if (std::strcmp(line, "crash") == 0) {
    volatile int* nowhere = nullptr;
    return *nowhere;
  }
  if (std::strcmp(line, "wide") == 0) {
    constexpr std::size_t kWide = 6 << 20;  // 1,536 pages
    auto* wide = static_cast<volatile char*>(std::malloc(kWide));
    if (wide == nullptr) return 7;
    for (std::size_t i = 0; i < kWide; i += 4096) wide[i] = 'w';
    std::free(const_cast<char*>(wide));
  }
  ++runs;
  const bool buffer_was_clean = big_buffer[0] == 0 && big_buffer[sizeof big_buffer - 1] == 0;
  std::memset(big_buffer, 'x', sizeof big_buffer);
  const std::string heap_before = heap;
  std::strcpy(heap, "dirty");
  int next_fd = -1;
  if (mode == "threads") {
    // A thread that is still running when the run ends: the reset must not let
    // it (or its stack) reach the next run.
    std::thread([] {
      for (;;) std::this_thread::yield();
    }).detach();
    std::this_thread::yield();
  }
  if (mode == "files") {
    next_fd = open("/data/file", O_RDWR | O_CREAT, 0644);
  } else {
    next_fd = dup(0);
  }
  munmap(mapped, kMapped);
  auto* again = static_cast<unsigned char*>(
      mmap(mapped, kMapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  if (again == MAP_FAILED) return 6;
  bool remapped_zero = true;
  for (std::size_t i = 0; i < kMapped; ++i) remapped_zero = remapped_zero && again[i] == 0;
  std::memset(again, 'b', kMapped);
  unsigned char random[8];
  if (getrandom(random, sizeof random, 0) != sizeof random) return 4;
  std::printf(
      "request %s: runs %d, heap %s, buffer %s, next fd %d, remap %s, random %02x%02x%02x%02x%02x%02x%02x%02x\n", line,
      runs, heap_before.c_str(), buffer_was_clean ? "clean" : "dirty", next_fd, remapped_zero ? "zero" : "stale",
      random[0], random[1], random[2], random[3], random[4], random[5], random[6], random[7]);
  std::fflush(stdout);
  return 0;
}
