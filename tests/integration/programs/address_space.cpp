// Address-space reservations (--address-space): PROT_NONE mappings larger than
// the guest's memory, parts of them made usable as the Go runtime and glibc's
// thread arenas do, and the memory budget (--memory) that usable parts count
// against.
//
//   address_space reserve   a 1 GiB PROT_NONE reservation: untouchable, parts
//                           made usable by MAP_FIXED and by mprotect; the same
//                           output natively and in a microVM
//   address_space budget    usable memory beyond the budget is ENOMEM while the
//                           address space still has room, and what munmap and
//                           mprotect(PROT_NONE) give back can be used again
//                           (microVM only: Linux overcommits)
//   address_space heap      the heap (brk) and mremap's growth count against the
//                           budget too, and an execve keeps the budget (microVM only)
// Whether a page may be touched is asked with clock_gettime, which answers
// EFAULT for a page the app may not touch, here as on Linux.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace {

constexpr long kMiB = 1 << 20;

char access_of(char* page) {
  if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, page) != 0) return errno == EFAULT ? '-' : '?';
  page[100] = 1;
  return 'w';
}

void* map(long length, int prot, int flags = 0, void* at = nullptr) {
  return mmap(at, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

const char* outcome(void* result) { return result == MAP_FAILED ? std::strerror(errno) : "ok"; }
const char* outcome(int result) { return result != 0 ? std::strerror(errno) : "ok"; }

// Writes every page of [base, base + length) and checks the bytes read back.
bool fill_and_check(char* base, long length, char seed) {
  for (long offset = 0; offset < length; offset += 4096) base[offset] = static_cast<char>(seed + offset / 4096);
  for (long offset = 0; offset < length; offset += 4096) {
    if (base[offset] != static_cast<char>(seed + offset / 4096)) return false;
  }
  return true;
}

int reserve() {
  const long length = 1024 * kMiB;
  auto* base = static_cast<char*>(map(length, PROT_NONE, MAP_NORESERVE));
  std::printf("reserve 1024 MiB PROT_NONE: %s\n", outcome(base));
  if (base == MAP_FAILED) return 1;
  std::printf("start %c, middle %c, last page %c\n", access_of(base), access_of(base + length / 2),
              access_of(base + length - 4096));
  // The Go runtime's way: a fixed read-write mapping over part of its reservation.
  char* fixed = base + 64 * kMiB;
  void* mapped = map(8 * kMiB, PROT_READ | PROT_WRITE, MAP_FIXED, fixed);
  std::printf("MAP_FIXED 8 MiB inside: %s, at its place %s\n", outcome(mapped), mapped == fixed ? "yes" : "no");
  std::printf("its pages: first %c, last %c, filled and read back: %s; below it %c, above it %c\n", access_of(fixed),
              access_of(fixed + 8 * kMiB - 4096), fill_and_check(fixed, 8 * kMiB, 3) ? "yes" : "no",
              access_of(fixed - 4096), access_of(fixed + 8 * kMiB));
  // glibc's way (thread arenas): mprotect part of it, growing a page at a time.
  char* arena = base + 512 * kMiB + 12 * 4096;
  std::printf("mprotect 1 MiB + 3 pages inside: %s\n",
              outcome(mprotect(arena, kMiB + 3 * 4096, PROT_READ | PROT_WRITE)));
  std::printf("its pages filled and read back: %s; the next page %c\n",
              fill_and_check(arena, kMiB + 3 * 4096, 9) ? "yes" : "no", access_of(arena + kMiB + 3 * 4096));
  // Given back to PROT_NONE, then usable again with its contents kept.
  const char* none = outcome(mprotect(arena, kMiB, PROT_NONE));
  std::printf("mprotect PROT_NONE again: %s, first page %c\n", none, access_of(arena));
  const char* again = outcome(mprotect(arena, kMiB, PROT_READ | PROT_WRITE));
  std::printf("and read-write again: %s, contents kept: %s\n", again, arena[4096] == 10 ? "yes" : "no");
  std::printf("munmap the reservation: %s\n", outcome(munmap(base, length)));
  return 0;
}

int budget() {
  // More than the budget as one usable mapping: refused, though the address space has room.
  void* reservation = map(1024 * kMiB, PROT_NONE, MAP_NORESERVE);
  std::printf("reserve 1024 MiB PROT_NONE: %s\n", outcome(reservation));
  if (reservation == MAP_FAILED) return 1;
  auto* base = static_cast<char*>(reservation);
  std::printf("mmap 100 MiB read-write: %s\n", outcome(map(100 * kMiB, PROT_READ | PROT_WRITE)));
  std::printf("mprotect 100 MiB of the reservation read-write: %s\n",
              outcome(mprotect(base, 100 * kMiB, PROT_READ | PROT_WRITE)));
  std::printf("the first page of it %c\n", access_of(base));
  std::printf("MAP_FIXED 100 MiB read-write in the reservation: %s\n",
              outcome(map(100 * kMiB, PROT_READ | PROT_WRITE, MAP_FIXED, base)));
  // Within the budget: used, given back, used again, many times over.
  int rounds_ok = 0;
  for (int round = 0; round < 12; ++round) {
    auto* block = static_cast<char*>(map(24 * kMiB, PROT_READ | PROT_WRITE));
    if (block == MAP_FAILED) break;
    const bool ok = fill_and_check(block, 24 * kMiB, static_cast<char>(round));
    if (munmap(block, 24 * kMiB) != 0 || !ok) break;
    ++rounds_ok;
  }
  std::printf("12 rounds of mmap, fill and munmap of 24 MiB: %d ok\n", rounds_ok);
  rounds_ok = 0;
  for (int round = 0; round < 12; ++round) {
    if (mprotect(base, 24 * kMiB, PROT_READ | PROT_WRITE) != 0) break;
    const bool ok = fill_and_check(base, 24 * kMiB, static_cast<char>(round));
    if (mprotect(base, 24 * kMiB, PROT_NONE) != 0 || !ok) break;
    ++rounds_ok;
  }
  std::printf("12 rounds of mprotect read-write, fill and PROT_NONE of 24 MiB: %d ok\n", rounds_ok);
  // Two usable halves of the budget at once fit; a third does not.
  void* first = map(20 * kMiB, PROT_READ | PROT_WRITE);
  void* second = map(20 * kMiB, PROT_READ | PROT_WRITE);
  void* third = map(20 * kMiB, PROT_READ | PROT_WRITE);
  std::printf("three 20 MiB mappings: %s, %s, %s\n", outcome(first), outcome(second), outcome(third));
  std::printf("munmap the reservation: %s\n", outcome(munmap(reservation, 1024 * kMiB)));
  return 0;
}

// What the budget refuses and allows after an execve (of this program).
void after_exec() {
  void* large = map(100 * kMiB, PROT_READ | PROT_WRITE);
  void* fitting = map(40 * kMiB, PROT_READ | PROT_WRITE);
  std::printf("after exec: mmap 100 MiB: %s, 40 MiB: %s\n", outcome(large), outcome(fitting));
}

int heap() {
  // brk: beyond the budget the break stays where it is (sbrk answers -1).
  char* start = static_cast<char*>(sbrk(0));
  const bool refused = sbrk(100 * kMiB) == reinterpret_cast<void*>(-1);
  std::printf("sbrk 100 MiB: %s, the break unchanged: %s\n", refused ? std::strerror(errno) : "ok",
              sbrk(0) == start ? "yes" : "no");
  const bool grown = sbrk(30 * kMiB) == start;
  std::printf("sbrk 30 MiB: %s, filled and read back: %s\n", grown ? "ok" : std::strerror(errno),
              grown && fill_and_check(start, 30 * kMiB, 5) ? "yes" : "no");
  // The heap holds 30 MiB of the budget: a 30 MiB mapping does not fit beside it...
  std::printf("then mmap 30 MiB: %s\n", outcome(map(30 * kMiB, PROT_READ | PROT_WRITE)));
  // ...until the heap shrinks again.
  std::printf("sbrk -30 MiB: %s\n", sbrk(-30 * kMiB) == reinterpret_cast<void*>(-1) ? std::strerror(errno) : "ok");
  void* mapped = map(30 * kMiB, PROT_READ | PROT_WRITE);
  std::printf("then mmap 30 MiB: %s\n", outcome(mapped));
  if (mapped != MAP_FAILED) munmap(mapped, 30 * kMiB);
  // mremap: growth counts, whether in place or moved; the contents move along.
  auto* block = static_cast<char*>(map(8 * kMiB, PROT_READ | PROT_WRITE));
  if (block == MAP_FAILED || !fill_and_check(block, 8 * kMiB, 7)) return 1;
  std::printf("mremap 8 to 100 MiB: %s\n", outcome(mremap(block, 8 * kMiB, 100 * kMiB, MREMAP_MAYMOVE)));
  auto* moved = static_cast<char*>(mremap(block, 8 * kMiB, 40 * kMiB, MREMAP_MAYMOVE));
  std::printf("mremap 8 to 40 MiB: %s, contents kept: %s\n", outcome(moved),
              moved != MAP_FAILED && moved[4096] == 8 ? "yes" : "no");
  std::printf("beside it mmap 30 MiB: %s\n", outcome(map(30 * kMiB, PROT_READ | PROT_WRITE)));
  auto* shrunk = static_cast<char*>(mremap(moved, 40 * kMiB, 4 * kMiB, 0));
  void* beside = map(30 * kMiB, PROT_READ | PROT_WRITE);
  std::printf("shrunk to 4 MiB: %s; then mmap 30 MiB: %s\n", outcome(shrunk), outcome(beside));
  std::fflush(stdout);
  char* const arguments[] = {const_cast<char*>("address_space"), const_cast<char*>("after-exec"), nullptr};
  execv("/proc/self/exe", arguments);
  std::printf("execv: %s\n", std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "heap") == 0) return heap();
  if (argc == 2 && std::strcmp(argv[1], "after-exec") == 0) {
    after_exec();
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "reserve") == 0) return reserve();
  if (argc == 2 && std::strcmp(argv[1], "budget") == 0) return budget();
  std::fprintf(stderr, "usage: address_space reserve|budget|heap\n");
  return 2;
}
