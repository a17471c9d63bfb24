// Sequential read of one file with fixed-size read() calls; prints the bytes
// read, the time the reads took (steady_clock, so start-up is not counted), the
// number of read calls and a checksum of one byte per 4 KiB. The same static
// binary runs natively and in a microVM (scripts/bench-files).
//
// Usage: file_read PATH [READ_SIZE_BYTES]   (default 1 MiB)
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: file_read PATH [READ_SIZE]\n");
    return 2;
  }
  const std::size_t chunk = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : (1u << 20);
  std::vector<unsigned char> buffer(chunk);
  const int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::perror(argv[1]);
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  unsigned long long total = 0, reads = 0, checksum = 0;
  for (;;) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    ++reads;
    if (got < 0) {
      std::perror("read");
      return 1;
    }
    if (got == 0) break;
    for (ssize_t i = 0; i < got; i += 4096) checksum += buffer[static_cast<std::size_t>(i)];
    total += static_cast<unsigned long long>(got);
  }
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  ::close(fd);
  std::printf("bytes=%llu ns=%lld reads=%llu checksum=%llu\n", total, static_cast<long long>(elapsed), reads,
              checksum);
  return 0;
}
