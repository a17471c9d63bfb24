// MAP_SHARED file mappings as Linux keeps them: one copy of each page (the
// file's), seen by every mapping, by pread/pwrite, after mremap and after the
// fd is closed. Run with a directory; prints one line per check, so that the
// microVM's output can be compared with the native run's.
//   shared_mappings DIR          the coherence checks
//   shared_mappings DIR past-end touch a mapped page past the file's end (SIGBUS)
//   shared_mappings DIR shrink   the file shrinks under the mapping, then a touch
//   shared_mappings DIR pass     pass such a page to open() as its path (EFAULT natively)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr size_t kPage = 4096;
std::string dir;

int open_file(const char* name, int flags) {
  const std::string path = dir + "/" + name;
  const int fd = ::open(path.c_str(), flags | O_CREAT, 0644);
  if (fd < 0) std::printf("open %s: %s\n", name, strerrorname_np(errno));
  return fd;
}

char* map(size_t length, int prot, int fd, off_t offset = 0, void* at = nullptr, int extra = 0) {
  void* mapped = ::mmap(at, length, prot, MAP_SHARED | extra, fd, offset);
  if (mapped == MAP_FAILED) {
    std::printf("mmap: %s\n", strerrorname_np(errno));
    return nullptr;
  }
  return static_cast<char*>(mapped);
}

std::string pread_string(int fd, size_t length, off_t offset) {
  std::string text(length, '\0');
  const ssize_t got = ::pread(fd, text.data(), length, offset);
  text.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return text;
}

void show(const char* what, const std::string& value) { std::printf("%s: '%s'\n", what, value.c_str()); }

int coherence() {
  const int fd = open_file("shared.bin", O_RDWR | O_TRUNC);
  if (fd < 0 || ::ftruncate(fd, 4 * kPage) != 0) return 1;
  char* first = map(2 * kPage, PROT_READ | PROT_WRITE, fd);
  char* second = map(2 * kPage, PROT_READ | PROT_WRITE, fd);
  if (first == nullptr || second == nullptr) return 1;
  std::memcpy(first + 10, "through the first", 17);
  show("two mappings: second sees", std::string(second + 10, 17));
  ::pwrite(fd, "pwritten", 8, kPage + 100);
  show("pwrite shows through", std::string(first + kPage + 100, 8));
  std::memcpy(second + 200, "stored", 6);
  show("a store reaches pread", pread_string(fd, 6, 200));

  // A mapping nobody wrote through must never bring old bytes back (munmap
  // used to write its stale copy over what pwrite had put in the file).
  char* stale = map(kPage, PROT_READ | PROT_WRITE, fd);
  ::pwrite(fd, "newer", 5, 300);
  ::munmap(stale, kPage);
  show("after munmap of an untouched mapping", pread_string(fd, 5, 300));

  // mremap moves the file's pages, not a copy of them.
  char* grown = static_cast<char*>(::mremap(first, 2 * kPage, 4 * kPage, MREMAP_MAYMOVE));
  if (grown == MAP_FAILED) {
    std::printf("mremap: %s\n", strerrorname_np(errno));
    return 1;
  }
  show("after mremap the old bytes", std::string(grown + 10, 17));
  std::memcpy(grown + 3 * kPage + 5, "after mremap", 12);
  show("a store after mremap reaches pread", pread_string(fd, 12, 3 * kPage + 5));

  // madvise(MADV_DONTNEED) drops the pages; they read as the file again.
  ::madvise(second, 2 * kPage, MADV_DONTNEED);
  show("after MADV_DONTNEED", std::string(second + 200, 6));
  std::printf("msync: %d\n", ::msync(second, 2 * kPage, MS_SYNC));

  // Stores after the fd is closed still reach the file.
  ::close(fd);
  std::memcpy(second + kPage + 500, "after close", 11);
  ::munmap(second, 2 * kPage);
  ::munmap(grown, 4 * kPage);
  const int again = open_file("shared.bin", O_RDONLY);
  show("after close and munmap", pread_string(again, 11, kPage + 500));

  // A read-only fd's shared mapping reads what another fd writes.
  char* read_only = map(kPage, PROT_READ, again);
  const int writer = open_file("shared.bin", O_RDWR);
  ::pwrite(writer, "seen read-only", 14, 40);
  show("read-only mapping sees pwrite", std::string(read_only + 40, 14));
  void* refused = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, again, 0);
  std::printf("writable shared mapping of an O_RDONLY fd: %s\n",
              refused == MAP_FAILED ? strerrorname_np(errno) : "mapped");

  // MAP_FIXED over an anonymous mapping.
  void* anonymous = ::mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  std::memset(anonymous, 'a', 2 * kPage);
  char* fixed = map(kPage, PROT_READ | PROT_WRITE, writer, kPage, anonymous, MAP_FIXED);
  show("MAP_FIXED at an offset", std::string(fixed + 100, 8));
  std::printf("the page after it: %c\n", static_cast<char*>(anonymous)[kPage]);
  std::memcpy(fixed + 1000, "fixed", 5);
  show("a store through it", pread_string(writer, 5, kPage + 1000));

  // LMDB's way: a map larger than the file, read-only; the file grows by pwrite.
  const int grows = open_file("grows.bin", O_RDWR | O_TRUNC);
  char* large = map(256 * kPage, PROT_READ, grows);
  ::pwrite(grows, "page two", 8, 2 * kPage);
  show("a page written past the old end", std::string(large + 2 * kPage, 8));
  std::printf("the page before it: %d\n", large[kPage]);
  ::ftruncate(grows, 100 * kPage);
  ::pwrite(grows, "far", 3, 99 * kPage + 7);
  show("after growing", std::string(large + 99 * kPage + 7, 3));
  return 0;
}

// The second page of a one-page file.
char* past_end() {
  const int fd = open_file("short.bin", O_RDWR | O_TRUNC);
  ::write(fd, "one page", 8);
  char* mapped = map(2 * kPage, PROT_READ | PROT_WRITE, fd);
  std::printf("first page: '%.8s'\n", mapped);
  std::fflush(stdout);
  return mapped + kPage;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: shared_mappings DIR [past-end|shrink|pass]\n");
    return 2;
  }
  dir = argv[1];
  const std::string mode = argc > 2 ? argv[2] : "";
  if (mode.empty()) return coherence();
  if (mode == "past-end") {
    volatile char* page = past_end();
    std::printf("read past the end: %d\n", page[0]);
  } else if (mode == "shrink") {
    const int fd = open_file("shrinks.bin", O_RDWR | O_TRUNC);
    ::ftruncate(fd, 2 * kPage);
    volatile char* mapped = map(2 * kPage, PROT_READ | PROT_WRITE, fd);
    mapped[kPage] = 'x';
    std::printf("before: %c\n", mapped[kPage]);
    std::fflush(stdout);
    ::ftruncate(fd, kPage);
    mapped[kPage] = 'y';
    std::printf("wrote past the new end\n");
  } else if (mode == "pass") {
    char* page = past_end();
    const int opened = ::open(page, O_RDONLY);
    std::printf("open of a path past the end: %s\n", opened < 0 ? strerrorname_np(errno) : "opened");
  }
  return 0;
}
