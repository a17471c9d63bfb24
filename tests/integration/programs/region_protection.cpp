// PROT_NONE and back over whole 2 MiB regions, as glibc does for each thread's
// stack: the guest kernel then changes a region's page-directory entry instead
// of its 512 page entries. Whether a page is accessible is asked with
// clock_gettime, which answers EFAULT for a page the app may not touch, here as
// on Linux. The output must be the same in a microVM as natively.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

namespace {

constexpr long kPage = 4096;
constexpr long kRegion = 2 << 20;

// 'w' writable (a store and a clock_gettime both work), '-' refused.
char access_of(char* page) {
  if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, page) != 0) return errno == EFAULT ? '-' : '?';
  page[100] = 1;
  return 'w';
}

// One character per 256 KiB step, and the first and last pages.
void show(const char* what, char* base, long length) {
  std::printf("%-34s %c|", what, access_of(base));
  for (long offset = 0; offset < length; offset += 256 << 10) std::printf("%c", access_of(base + offset));
  std::printf("|%c\n", access_of(base + length - kPage));
}

}  // namespace

int main() {
  // A stack's shape: 8 MiB and a guard page, reserved PROT_NONE, then all but
  // the guard made read-write.
  const long length = 4 * kRegion + kPage;
  auto* base = static_cast<char*>(mmap(nullptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0));
  if (base == MAP_FAILED) return 1;
  show("reserved PROT_NONE", base, length);
  if (mprotect(base + kPage, length - kPage, PROT_READ | PROT_WRITE) != 0) return 1;
  show("all but the guard read-write", base, length);
  std::printf("guard %c, above it %c\n", access_of(base), access_of(base + kPage));
  // One page in the middle of a region taken away, then given back.
  char* middle = base + kPage + kRegion + 37 * kPage;
  if (mprotect(middle, kPage, PROT_NONE) != 0) return 1;
  std::printf("middle page %c, its neighbours %c %c\n", access_of(middle), access_of(middle - kPage),
              access_of(middle + kPage));
  if (mprotect(middle, kPage, PROT_READ | PROT_WRITE) != 0) return 1;
  std::printf("middle page given back %c\n", access_of(middle));
  // Everything PROT_NONE again, then one region's worth read-write inside it.
  if (mprotect(base, length, PROT_NONE) != 0) return 1;
  show("all PROT_NONE again", base, length);
  if (mprotect(base + kPage + kRegion, kRegion, PROT_READ | PROT_WRITE) != 0) return 1;
  show("one region read-write inside", base, length);
  // One page of a region made absent as a whole: that region's pages become
  // absent one by one, and only this one comes back.
  char* lone = base + kPage + 3 * kRegion + 5 * kPage;
  if (mprotect(lone, kPage, PROT_READ | PROT_WRITE) != 0) return 1;
  std::printf("lone page %c, its neighbours %c %c\n", access_of(lone), access_of(lone - kPage),
              access_of(lone + kPage));
  if (munmap(base, length) != 0) return 1;
  // The memory comes back read-write and zeroed in a new mapping.
  auto* again = static_cast<char*>(mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (again == MAP_FAILED) return 1;
  long nonzero = 0;
  for (long offset = 0; offset < length; offset += kPage) nonzero += again[offset + 100] != 0;
  show("mapped again read-write", again, length);
  std::printf("pages not zero after remapping: %ld\n", nonzero);
  return 0;
}
