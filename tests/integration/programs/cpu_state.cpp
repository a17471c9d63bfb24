// What the CPU looks like to an app, and what a syscall or a thread switch may
// change of it. Modes:
//   registers   every general register but rax, rcx and r11 survives a
//               syscall answered in the guest (getppid), a forwarded one
//               (write of 0 bytes) and sched_yield; prints "registers ok"
//   sse         xmm0-15 and MXCSR survive the same syscalls; "sse ok"
//   sse-threads two threads hold different xmm0-15 values across sched_yield
//               switches and across time slices (spinning); "sse-threads ok"
//   avx         ymm upper halves survive syscalls; "avx unusable" when the OS
//               (hyperlet) did not enable XSAVE state for AVX
//   cpuid       prints the features the app sees, one "name 0|1" per line
// A mismatch prints what changed and exits 1.
#include <cpuid.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

extern "C" void syscall_keeping_registers(std::uint64_t* slots);

// slots: 0 rax (number in, result out), 1 rbx, 2 rcx, 3 rdx, 4 rsi, 5 rdi,
// 6 rbp, 7 r8, 8 r9, 9 r10, 10 r11, 11 r12, 12 r13, 13 r14, 14 r15.
asm(R"(
.text
.globl syscall_keeping_registers
syscall_keeping_registers:
  push %rbx
  push %rbp
  push %r12
  push %r13
  push %r14
  push %r15
  push %rdi
  mov 8(%rdi), %rbx
  mov 16(%rdi), %rcx
  mov 24(%rdi), %rdx
  mov 32(%rdi), %rsi
  mov 48(%rdi), %rbp
  mov 56(%rdi), %r8
  mov 64(%rdi), %r9
  mov 72(%rdi), %r10
  mov 80(%rdi), %r11
  mov 88(%rdi), %r12
  mov 96(%rdi), %r13
  mov 104(%rdi), %r14
  mov 112(%rdi), %r15
  mov 0(%rdi), %rax
  mov 40(%rdi), %rdi
  syscall
  xchg %rdi, (%rsp)
  mov %rax, 0(%rdi)
  mov %rbx, 8(%rdi)
  mov %rcx, 16(%rdi)
  mov %rdx, 24(%rdi)
  mov %rsi, 32(%rdi)
  mov %rbp, 48(%rdi)
  mov %r8, 56(%rdi)
  mov %r9, 64(%rdi)
  mov %r10, 72(%rdi)
  mov %r11, 80(%rdi)
  mov %r12, 88(%rdi)
  mov %r13, 96(%rdi)
  mov %r14, 104(%rdi)
  mov %r15, 112(%rdi)
  pop %rax
  mov %rax, 40(%rdi)
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbp
  pop %rbx
  ret
)");

namespace {

const char* const kRegisterNames[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                        "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

struct Call {
  const char* name;
  long number;
  std::uint64_t arguments[6];  // rdi rsi rdx r10 r8 r9
};

int check_registers() {
  static const char empty[1] = {0};
  const Call calls[] = {{"getppid", SYS_getppid, {0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666}},
                        {"write", SYS_write, {1, reinterpret_cast<std::uint64_t>(empty), 0, 0x4444, 0x5555, 0x6666}},
                        {"sched_yield", SYS_sched_yield, {0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666}}};
  int bad = 0;
  for (const Call& call : calls) {
    for (int round = 0; round < 50; ++round) {
      std::uint64_t slots[15];
      for (int i = 0; i < 15; ++i) slots[i] = 0x0123456789abcdefull ^ (static_cast<std::uint64_t>(i) << 56) ^ round;
      slots[0] = static_cast<std::uint64_t>(call.number);
      slots[5] = call.arguments[0];
      slots[4] = call.arguments[1];
      slots[3] = call.arguments[2];
      slots[9] = call.arguments[3];
      slots[7] = call.arguments[4];
      slots[8] = call.arguments[5];
      std::uint64_t before[15];
      std::memcpy(before, slots, sizeof slots);
      syscall_keeping_registers(slots);
      if (static_cast<std::int64_t>(slots[0]) < 0) {
        std::printf("%s failed: %lld\n", call.name, static_cast<long long>(slots[0]));
        return 1;
      }
      for (int i = 1; i < 15; ++i) {
        if (i == 2 || i == 10) continue;  // rcx, r11: the syscall instruction's own
        if (slots[i] != before[i]) {
          std::printf("%s changed %s: %#llx -> %#llx\n", call.name, kRegisterNames[i],
                      static_cast<unsigned long long>(before[i]), static_cast<unsigned long long>(slots[i]));
          ++bad;
        }
      }
      if (bad != 0) return 1;
    }
  }
  std::puts("registers ok");
  return 0;
}

struct alignas(16) XmmFile {
  std::uint8_t bytes[16][16];
};

XmmFile pattern(std::uint8_t seed) {
  XmmFile file{};
  for (int r = 0; r < 16; ++r) {
    for (int b = 0; b < 16; ++b) file.bytes[r][b] = static_cast<std::uint8_t>(seed * 31 + r * 16 + b);
  }
  return file;
}

#define XMM_LOAD(in)                                                                                                   \
  "movdqa 0(" in "), %%xmm0\n movdqa 16(" in "), %%xmm1\n movdqa 32(" in "), %%xmm2\n movdqa 48(" in                   \
  "), %%xmm3\n movdqa 64(" in "), %%xmm4\n movdqa 80(" in "), %%xmm5\n movdqa 96(" in "), %%xmm6\n movdqa 112(" in     \
  "), %%xmm7\n movdqa 128(" in "), %%xmm8\n movdqa 144(" in "), %%xmm9\n movdqa 160(" in "), %%xmm10\n movdqa 176(" in \
  "), %%xmm11\n movdqa 192(" in "), %%xmm12\n movdqa 208(" in "), %%xmm13\n movdqa 224(" in                            \
  "), %%xmm14\n movdqa 240(" in "), %%xmm15\n"
#define XMM_STORE(out)                                                                                                 \
  "movdqa %%xmm0, 0(" out ")\n movdqa %%xmm1, 16(" out ")\n movdqa %%xmm2, 32(" out ")\n movdqa %%xmm3, 48(" out       \
  ")\n movdqa %%xmm4, 64(" out ")\n movdqa %%xmm5, 80(" out ")\n movdqa %%xmm6, 96(" out ")\n movdqa %%xmm7, 112(" out \
  ")\n movdqa %%xmm8, 128(" out ")\n movdqa %%xmm9, 144(" out ")\n movdqa %%xmm10, 160(" out                           \
  ")\n movdqa %%xmm11, 176(" out ")\n movdqa %%xmm12, 192(" out ")\n movdqa %%xmm13, 208(" out                         \
  ")\n movdqa %%xmm14, 224(" out ")\n movdqa %%xmm15, 240(" out ")\n"
#define XMM_CLOBBERS                                                                                                  \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", \
      "xmm14", "xmm15"

// Loads `in` into xmm0-15, makes `calls` syscalls `number` (or spins `spins`
// iterations without any), stores xmm0-15 into `out`.
void xmm_across(const XmmFile& in, XmmFile& out, long number, long calls, long spins) {
  asm volatile(XMM_LOAD("%[in]") "   mov %[calls], %%r12\n"
                                 "1: test %%r12, %%r12\n jz 2f\n"
                                 "   mov %[number], %%rax\n xor %%edi, %%edi\n xor %%esi, %%esi\n xor %%edx, %%edx\n"
                                 "   syscall\n dec %%r12\n jmp 1b\n"
                                 "2: mov %[spins], %%r12\n"
                                 "3: test %%r12, %%r12\n jz 4f\n dec %%r12\n jmp 3b\n"
                                 "4:\n" XMM_STORE("%[out]")
               :
               : [in] "r"(&in), [out] "r"(&out), [number] "r"(number), [calls] "r"(calls), [spins] "r"(spins)
               : "rax", "rcx", "rdx", "rsi", "rdi", "r11", "r12", "memory", XMM_CLOBBERS);
}

bool same(const XmmFile& expected, const XmmFile& got, const char* what) {
  for (int r = 0; r < 16; ++r) {
    if (std::memcmp(expected.bytes[r], got.bytes[r], 16) != 0) {
      std::printf("xmm%d changed across %s\n", r, what);
      return false;
    }
  }
  return true;
}

int check_sse() {
  for (const long number : {long{SYS_getppid}, long{SYS_sched_yield}, long{SYS_getcwd}}) {
    const XmmFile in = pattern(static_cast<std::uint8_t>(number));
    XmmFile out{};
    xmm_across(in, out, number, 200, 0);
    if (!same(in, out, "syscalls")) return 1;
  }
  // MXCSR: round toward zero and flush-to-zero survive a forwarded syscall.
  unsigned mxcsr = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  const unsigned wanted = (mxcsr & ~0x6000u) | 0x6000u | 0x8000u;
  asm volatile("ldmxcsr %0" : : "m"(wanted));
  char cwd[64];
  syscall(SYS_getcwd, cwd, sizeof cwd);
  syscall(SYS_getppid);
  unsigned after = 0;
  asm volatile("stmxcsr %0" : "=m"(after));
  asm volatile("ldmxcsr %0" : : "m"(mxcsr));
  if (after != wanted) {
    std::printf("mxcsr changed across syscalls: %#x -> %#x\n", wanted, after);
    return 1;
  }
  std::puts("sse ok");
  return 0;
}

int check_sse_threads() {
  std::atomic<int> failures{0};
  auto worker = [&failures](std::uint8_t seed) {
    const XmmFile in = pattern(seed);
    XmmFile out{};
    xmm_across(in, out, SYS_sched_yield, 300, 0);  // a switch at every call while both live
    if (!same(in, out, "sched_yield switches")) ++failures;
    xmm_across(in, out, SYS_getppid, 0, 20'000'000);  // ~10 ms or more: a time slice or two
    if (!same(in, out, "time slices")) ++failures;
  };
  std::thread other(worker, 7);
  worker(99);
  other.join();
  if (failures != 0) return 1;
  std::puts("sse-threads ok");
  return 0;
}

bool avx_usable() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  if (!(c & bit_OSXSAVE) || !(c & bit_AVX)) return false;
  unsigned xcr0_low, xcr0_high;
  asm volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  return (xcr0_low & 6) == 6;
}

__attribute__((target("avx"))) int check_avx() {
  if (!avx_usable()) {
    std::puts("avx unusable");
    return 0;
  }
  alignas(32) std::uint8_t in[32], out[32];
  for (int i = 0; i < 32; ++i) in[i] = static_cast<std::uint8_t>(0xa0 + i);
  asm volatile(
      "vmovdqa (%[in]), %%ymm7\n mov %[n], %%eax\n syscall\n mov %[n2], %%eax\n syscall\n vmovdqa %%ymm7, (%[out])\n"
      :
      : [in] "r"(in), [out] "r"(out), [n] "i"(SYS_getppid), [n2] "i"(SYS_sched_yield)
      : "rax", "rcx", "r11", "memory", "xmm7");
  if (std::memcmp(in, out, 32) != 0) {
    std::puts("ymm7 changed across syscalls");
    return 1;
  }
  std::puts("avx ok");
  return 0;
}

int print_cpuid() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  __get_cpuid(1, &a, &b, &c, &d);
  std::printf("sse2 %d\nsse3 %d\nssse3 %d\nsse4_1 %d\nsse4_2 %d\npopcnt %d\nxsave %d\nosxsave %d\navx %d\n",
              !!(d & bit_SSE2), !!(c & bit_SSE3), !!(c & bit_SSSE3), !!(c & bit_SSE4_1), !!(c & bit_SSE4_2),
              !!(c & bit_POPCNT), !!(c & bit_XSAVE), !!(c & bit_OSXSAVE), !!(c & bit_AVX));
  std::printf("hypervisor %d\n", !!(c & (1u << 31)));
  __builtin_cpu_init();
  std::printf("glibc-avx %d\nglibc-avx2 %d\navx-usable %d\n", __builtin_cpu_supports("avx") ? 1 : 0,
              __builtin_cpu_supports("avx2") ? 1 : 0, avx_usable() ? 1 : 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "registers") return check_registers();
  if (mode == "sse") return check_sse();
  if (mode == "sse-threads") return check_sse_threads();
  if (mode == "avx") return check_avx();
  if (mode == "cpuid") return print_cpuid();
  std::fprintf(stderr, "usage: cpu_state registers|sse|sse-threads|avx|cpuid\n");
  return 2;
}
