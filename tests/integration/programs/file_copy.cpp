// file_copy SRC DST CHUNK: copies SRC to DST with read/write of CHUNK bytes,
// checks DST against SRC with pread, rewrites one chunk with pwrite, and tries
// calls that must fail. Built with the toolchain, so in a microVM its file I/O
// takes the file ring (guest-runtime/lib/file_ring.cpp); natively the same
// binary makes ordinary syscalls, and both runs must print the same.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

int fail(const char* what) {
  std::printf("%s: %s\n", what, std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: file_copy SRC DST CHUNK\n");
    return 64;
  }
  const std::size_t chunk = std::strtoull(argv[3], nullptr, 10);
  const int in = open(argv[1], O_RDONLY | O_CLOEXEC);
  const int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (in < 0 || out < 0) return fail("open");
  std::vector<char> buffer(chunk), check(chunk);
  std::size_t total = 0, calls = 0;
  for (;;) {
    const ssize_t got = read(in, buffer.data(), chunk);
    ++calls;
    if (got < 0) return fail("read");
    if (got == 0) break;
    for (ssize_t done = 0; done < got;) {
      const ssize_t put = write(out, buffer.data() + done, static_cast<std::size_t>(got - done));
      ++calls;
      if (put <= 0) return fail("write");
      done += put;
    }
    total += static_cast<std::size_t>(got);
  }
  std::printf("copied %zu bytes\n", total);
  // What must fail fails the same way: reading a write-only fd, writing a read-only one.
  std::printf("read of the write-only copy: %s\n", read(out, buffer.data(), 1) < 0 ? std::strerror(errno) : "ok");
  std::printf("write to the read-only source: %s\n", write(in, buffer.data(), 1) < 0 ? std::strerror(errno) : "ok");
  std::printf("pread past the end: %zd\n", pread(in, buffer.data(), chunk, static_cast<off_t>(total + 10)));
  std::printf("pread at a negative offset: %s\n", pread(in, buffer.data(), 1, -1) < 0 ? std::strerror(errno) : "ok");
  // pwrite the first chunk again (unchanged bytes), then compare everything with pread.
  if (pread(in, buffer.data(), chunk, 0) < 0 || pwrite(out, buffer.data(), chunk < total ? chunk : total, 0) < 0) {
    return fail("pwrite");
  }
  close(out);
  const int copy = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (copy < 0) return fail("open copy");
  for (std::size_t at = 0; at < total; at += chunk) {
    const ssize_t a = pread(in, buffer.data(), chunk, static_cast<off_t>(at));
    const ssize_t b = pread(copy, check.data(), chunk, static_cast<off_t>(at));
    calls += 2;
    if (a <= 0 || a != b || std::memcmp(buffer.data(), check.data(), static_cast<std::size_t>(a)) != 0) {
      std::printf("copy differs at %zu\n", at);
      return 1;
    }
  }
  std::printf("copy verified\n");
  std::fprintf(stderr, "file calls: %zu\n", calls);
  return 0;
}
