// Attacks on the guest kernel from ring 3, one mode per argv word (see
// security_tests.cpp). Each line prints what a call returned: "ok", a value, or
// the errno's name. Modes marked "native too" print the same natively.
#include <asm/prctl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

// Loads the pid with a `syscall` instruction that straddles a page boundary:
// its first byte is the last of one page. The loader rewrites it into `int 0x81`,
// whose #UD (on kvm_pvm) the guest kernel must recognise across the pages.
extern "C" long getpid_across_pages();
asm(R"(
  .text
  .balign 4096
  .fill 4090, 1, 0x90
  .global getpid_across_pages
getpid_across_pages:
  movl $39, %eax
  syscall
  ret
)");

// A direct syscall site (`movl $72, %eax` right before the syscall, so the loader
// writes `out %eax, $0x10`) whose `out` is the last byte of a page, reached by a
// jump with getpid's number: the host sends it back, the `out` raises #GP at a
// page's end, and the guest kernel must recognise it across the pages.
extern "C" long getpid_through_a_direct_site_across_pages();
asm(R"(
  .text
  .balign 4096
  .fill 4083, 1, 0x90
  .global getpid_through_a_direct_site_across_pages
getpid_through_a_direct_site_across_pages:
  movl $39, %eax
  jmp 1f
  movl $72, %eax
1:
  syscall
  ret
)");

// Port I/O of the app's own on the direct-syscall port (abi.h), which is open
// to ring 3 while single-threaded: an `in`, and a one-byte `out`.
void port_in() {
  unsigned char value = 0;
  asm volatile("inb $0x10, %0" : "=a"(value));
  std::printf("in from port 0x10: %u\n", value);
}

void port_out_byte() { asm volatile("outb %%al, $0x10" : : "a"(0)); }

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kKernelImage = 0x100000;  // the guest kernel's header and text
constexpr uint64_t kBootInfo = 0x1000;

void show(const char* what, long result) {
  if (result == -1) {
    std::printf("%s: %s\n", what, strerrorname_np(errno));
  } else {
    std::printf("%s: ok\n", what);
  }
}

void show_pointer(const char* what, void* result) { show(what, result == MAP_FAILED ? -1 : 0); }

long raw(long number, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  return ::syscall(number, a, b, c, d, e, f);
}

char* map_pages(uint64_t pages) {
  return static_cast<char*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
}

// brk(~0) once wrapped the heap limit, after which the kernel's memory could be
// mapped over, moved and read with MAP_FIXED and mremap.
void wrapped_break() {
  const long start = raw(SYS_brk, 0);
  std::printf("brk(~0) keeps the break: %d\n", raw(SYS_brk, ~0L) == start);
  std::printf("brk(1 << 40) keeps the break: %d\n", raw(SYS_brk, 1L << 40) == start);
  std::printf("brk(kernel) keeps the break: %d\n", raw(SYS_brk, kKernelImage) == start);
  show_pointer("mmap MAP_FIXED over the kernel image",
               ::mmap(reinterpret_cast<void*>(kKernelImage), kPage, PROT_READ | PROT_WRITE,
                      MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  show_pointer("mmap MAP_FIXED over BootInfo", ::mmap(reinterpret_cast<void*>(kBootInfo), kPage, PROT_READ | PROT_WRITE,
                                                      MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  show("mremap the kernel image out", raw(SYS_mremap, kKernelImage, kPage, 2 * kPage, MREMAP_MAYMOVE));
  show("mremap the kernel image in place", raw(SYS_mremap, kKernelImage, 2 * kPage, kPage, 0));
  show("munmap the kernel image", raw(SYS_munmap, kKernelImage, kPage));
  show("mprotect the kernel image", raw(SYS_mprotect, kKernelImage, kPage, PROT_NONE));
  show("madvise the kernel image", raw(SYS_madvise, kKernelImage, kPage, MADV_DONTNEED));
  char* block = map_pages(1);
  std::strcpy(block, "still here");
  std::printf("an ordinary mapping: %s\n", block);
}

// Lengths that wrap when rounded up to pages (native too).
void wrapping_lengths() {
  char* block = map_pages(2);
  const long all = ~0L;
  show("munmap ~0", raw(SYS_munmap, reinterpret_cast<long>(block), all));
  show("munmap -4096", raw(SYS_munmap, reinterpret_cast<long>(block), -4096L));
  show("mprotect ~0", raw(SYS_mprotect, reinterpret_cast<long>(block), all, PROT_READ));
  show("madvise ~0", raw(SYS_madvise, reinterpret_cast<long>(block), all, MADV_DONTNEED));
  show("mremap to ~0", raw(SYS_mremap, reinterpret_cast<long>(block), kPage, all, MREMAP_MAYMOVE));
  show("mmap ~0", raw(SYS_mmap, 0, all, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  show("mmap -4096", raw(SYS_mmap, 0, -4096L, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  const long start = raw(SYS_brk, 0);
  std::printf("brk(~0) keeps the break: %d\n", raw(SYS_brk, all) == start);
  std::strcpy(block + kPage, "still mapped");
  std::printf("the block: %s\n", block + kPage);
}

// Pointers into the guest kernel's memory: EFAULT, never a kernel access.
void kernel_pointers() {
  show("futex wait on the kernel", raw(SYS_futex, kKernelImage, FUTEX_WAIT_PRIVATE, 0, 0));
  show("futex wake on the kernel", raw(SYS_futex, kKernelImage, FUTEX_WAKE_PRIVATE, 1));
  show("futex requeue to the kernel",
       raw(SYS_futex, reinterpret_cast<long>(&errno), FUTEX_REQUEUE_PRIVATE, 1, 1, kKernelImage));
  show("futex wake misaligned", raw(SYS_futex, reinterpret_cast<long>(map_pages(1)) + 1, FUTEX_WAKE_PRIVATE, 1));
  show("clock_gettime into BootInfo", raw(SYS_clock_gettime, CLOCK_REALTIME, kBootInfo));
  show("uname into the kernel image", raw(SYS_uname, kKernelImage));
  show("getrandom into the kernel image", raw(SYS_getrandom, kKernelImage, 16, 0));
  show("rt_sigaction from the kernel image", raw(SYS_rt_sigaction, SIGUSR1, kKernelImage, 0, 8));
  show("arch_prctl GET_FS into BootInfo", raw(SYS_arch_prctl, ARCH_GET_FS, kBootInfo));
}

// FS and GS bases a wrmsr in ring 0 cannot load (native too).
void segment_bases() {
  const long non_canonical = static_cast<long>(0x8000000000000000ull);
  const long task_size_max = (1L << 47) - 4096;
  show("arch_prctl SET_FS non-canonical", raw(SYS_arch_prctl, ARCH_SET_FS, non_canonical));
  show("arch_prctl SET_GS non-canonical", raw(SYS_arch_prctl, ARCH_SET_GS, non_canonical));
  show("arch_prctl SET_FS TASK_SIZE_MAX", raw(SYS_arch_prctl, ARCH_SET_FS, task_size_max));
  char* stack = map_pages(4);
  const long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS;
  show("clone CLONE_SETTLS non-canonical",
       raw(SYS_clone, flags, reinterpret_cast<long>(stack + 4 * kPage), 0, 0, non_canonical));
  show("sched_yield", ::sched_yield());
}

// A one-byte invalid opcode (0x06, push es) as the last byte before a PROT_NONE
// page: the app's own SIGILL, as natively (132).
void invalid_opcode_at_page_end() {
  char* code = map_pages(2);
  ::mprotect(code + kPage, kPage, PROT_NONE);
  code[kPage - 1] = 0x06;
  std::fflush(stdout);
  reinterpret_cast<void (*)()>(code + kPage - 1)();
}

// mremap of a range containing PROT_NONE pages (native too).
void mremap_prot_none() {
  char* mixed = map_pages(3);
  mixed[0] = 'm';
  ::mprotect(mixed + kPage, kPage, PROT_NONE);
  show("mremap grow, one page PROT_NONE",
       raw(SYS_mremap, reinterpret_cast<long>(mixed), 3 * kPage, 6 * kPage, MREMAP_MAYMOVE));
  char* reserved = map_pages(2);
  reserved[0] = 'r';
  ::mprotect(reserved, 2 * kPage, PROT_NONE);
  const long moved = raw(SYS_mremap, reinterpret_cast<long>(reserved), 2 * kPage, 4 * kPage, MREMAP_MAYMOVE);
  show("mremap grow, all PROT_NONE", moved);
  if (moved != -1) {
    auto* bytes = reinterpret_cast<char*>(moved);
    show("mprotect the moved pages", ::mprotect(bytes, 4 * kPage, PROT_READ | PROT_WRITE));
    std::printf("moved contents: %c\n", bytes[0]);
  }
  std::printf("the first block: %c\n", mixed[0]);
}

// A syscall made with the direction flag set: the kernel's copies must still
// run forward (native too).
long syscall_with_direction_flag(long number, long a, long b, long c, long d) {
  long result;
  register long r10 asm("r10") = d;
  asm volatile("std\n\tsyscall\n\tcld"
               : "=a"(result)
               : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
               : "rcx", "r11", "memory");
  return result;
}

void direction_flag() {
  char* block = map_pages(1);
  for (uint64_t i = 0; i < kPage; ++i) block[i] = static_cast<char>(i * 7);
  const long moved =
      syscall_with_direction_flag(SYS_mremap, reinterpret_cast<long>(block), kPage, 2 * kPage, MREMAP_MAYMOVE);
  std::printf("mremap with DF set: %s\n", moved < 0 ? strerrorname_np(static_cast<int>(-moved)) : "ok");
  if (moved < 0) return;
  auto* bytes = reinterpret_cast<const char*>(moved);
  uint64_t same = 0;
  for (uint64_t i = 0; i < kPage; ++i) same += bytes[i] == static_cast<char>(i * 7);
  std::printf("bytes copied in order: %lu of %lu\n", same, kPage);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string mode = argv[i];
    if (mode == "wrapped-break") wrapped_break();
    if (mode == "wrapping-lengths") wrapping_lengths();
    if (mode == "kernel-pointers") kernel_pointers();
    if (mode == "segment-bases") segment_bases();
    if (mode == "invalid-opcode-at-page-end") invalid_opcode_at_page_end();
    if (mode == "syscall-across-pages") {
      std::printf("getpid across a page boundary: %d\n", getpid_across_pages() == ::getpid());
    }
    if (mode == "direct-syscall-across-pages") {
      std::printf("getpid through a direct site across a page boundary: %d\n",
                  getpid_through_a_direct_site_across_pages() == ::getpid());
    }
    if (mode == "port-in") port_in();
    if (mode == "port-out-byte") port_out_byte();
    if (mode == "mremap-prot-none") mremap_prot_none();
    if (mode == "direction-flag") direction_flag();
  }
  return 0;
}
