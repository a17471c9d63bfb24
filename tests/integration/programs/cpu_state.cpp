// What the CPU looks like to an app, and what a syscall or a thread switch may
// change of it. Modes:
//   registers   every general register but rax, rcx and r11 survives a
//               syscall answered in the guest (getppid), a forwarded one
//               (write of 0 bytes) and sched_yield; prints "registers ok"
//   sse         xmm0-15 and MXCSR survive the same syscalls; "sse ok"
//   sse-threads two threads hold different xmm0-15 values across sched_yield
//               switches and across time slices (spinning); "sse-threads ok"
//   avx         ymm0-15 (all 256 bits) survive syscalls answered in the guest
//               (getppid, sched_yield) and forwarded ones (getcwd, write of 0
//               bytes); "avx ok"
//   avx-threads two threads hold different ymm0-15 values across sched_yield
//               switches, futex sleeps with a timeout, forwarded nanosleeps
//               and time slices; "avx-threads ok"
//   avx512-threads
//               two threads hold different zmm0-31 and k1-k7 values across
//               sched_yield switches and time slices; "avx512-threads ok"
//               ("avx512 unusable" where XCR0 or CPUID has no AVX-512)
//   avx-signal  ymm0-15 survive 100 SIGUSR1 handlers that overwrite every ymm
//               register; "avx-signal ok"
//   avx-snapshot
//               prints "before ready", holds ymm0-15 across hyperlet's ready()
//               syscall (where `hyperlet snapshot` stops) and checks them
//               after it (after a restore); "avx-snapshot ok"
//   avx2-strings
//               glibc's string functions give right results over lengths and
//               alignments, and strlen is an AVX2 version (it ends with
//               vzeroupper, which an SSE2 version never runs); "avx2-strings ok"
//   cpuid       prints the features the app sees, one "name 0|1" per line,
//               with XCR0's bits as XGETBV reads them when OSXSAVE is set
// The avx modes print "avx unusable" (avx2-strings: "avx2 unusable") and exit
// 0 when the OS (hyperlet) did not enable AVX state (CPUID.OSXSAVE, XCR0).
// A mismatch prints what changed and exits 1.
#include <cpuid.h>
#include <hyperlet/abi.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/platform/x86.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

extern "C" void syscall_keeping_registers(std::uint64_t* slots);
// Loads ymm15 from `in`, calls function(argument), stores ymm15 into `out`.
extern "C" void ymm15_around_call(const void* function, const void* argument, const void* in, void* out);

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

.globl ymm15_around_call
ymm15_around_call:
  push %rbx
  mov %rcx, %rbx
  vmovdqu (%rdx), %ymm15
  mov %rdi, %rax
  mov %rsi, %rdi
  call *%rax
  vmovdqu %ymm15, (%rbx)
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

struct alignas(32) YmmFile {
  std::uint8_t bytes[16][32];
};

YmmFile ymm_pattern(std::uint8_t seed) {
  YmmFile file{};
  for (int r = 0; r < 16; ++r) {
    for (int b = 0; b < 32; ++b) file.bytes[r][b] = static_cast<std::uint8_t>(seed * 37 + r * 32 + b + 1);
  }
  return file;
}

// One syscall and its first four arguments (rdi, rsi, rdx, r10).
struct Syscall {
  const char* name;
  long number;
  std::uint64_t arguments[4];
};

#define YMM_LOAD(in)                                                                                           \
  "vmovdqa 0(" in "), %%ymm0\n vmovdqa 32(" in "), %%ymm1\n vmovdqa 64(" in "), %%ymm2\n vmovdqa 96(" in       \
  "), %%ymm3\n vmovdqa 128(" in "), %%ymm4\n vmovdqa 160(" in "), %%ymm5\n vmovdqa 192(" in                    \
  "), %%ymm6\n"                                                                                                \
  " vmovdqa 224(" in "), %%ymm7\n vmovdqa 256(" in "), %%ymm8\n vmovdqa 288(" in "), %%ymm9\n vmovdqa 320(" in \
  "), %%ymm10\n vmovdqa 352(" in "), %%ymm11\n vmovdqa 384(" in "), %%ymm12\n vmovdqa 416(" in                 \
  "), %%ymm13\n vmovdqa 448(" in "), %%ymm14\n vmovdqa 480(" in "), %%ymm15\n"
#define YMM_STORE(out)                                                                                               \
  "vmovdqa %%ymm0, 0(" out ")\n vmovdqa %%ymm1, 32(" out ")\n vmovdqa %%ymm2, 64(" out ")\n vmovdqa %%ymm3, 96(" out \
  ")\n vmovdqa %%ymm4, 128(" out ")\n vmovdqa %%ymm5, 160(" out ")\n vmovdqa %%ymm6, 192(" out                       \
  ")\n vmovdqa %%ymm7, 224(" out ")\n vmovdqa %%ymm8, 256(" out ")\n vmovdqa %%ymm9, 288(" out                       \
  ")\n vmovdqa %%ymm10, 320(" out ")\n vmovdqa %%ymm11, 352(" out ")\n vmovdqa %%ymm12, 384(" out                    \
  ")\n vmovdqa %%ymm13, 416(" out ")\n vmovdqa %%ymm14, 448(" out ")\n vmovdqa %%ymm15, 480(" out ")\n"

// Loads `in` into ymm0-15, makes `calls` of `call` (then spins `spins`
// iterations without any), stores ymm0-15 into `out`; nothing in between
// touches a vector register.
__attribute__((target("avx"))) void ymm_across(const YmmFile& in, YmmFile& out, const Syscall& call, long calls,
                                               long spins) {
  asm volatile(YMM_LOAD("%[in]") "   mov %[calls], %%r12\n"
                                 "1: test %%r12, %%r12\n jz 2f\n"
                                 "   mov %[number], %%rax\n mov %[a0], %%rdi\n mov %[a1], %%rsi\n"
                                 "   mov %[a2], %%rdx\n mov %[a3], %%r10\n"
                                 "   syscall\n dec %%r12\n jmp 1b\n"
                                 "2: mov %[spins], %%r12\n"
                                 "3: test %%r12, %%r12\n jz 4f\n dec %%r12\n jmp 3b\n"
                                 "4:\n" YMM_STORE("%[out]")
               :
               : [in] "r"(&in), [out] "r"(&out), [number] "m"(call.number), [a0] "m"(call.arguments[0]),
                 [a1] "m"(call.arguments[1]), [a2] "m"(call.arguments[2]), [a3] "m"(call.arguments[3]),
                 [calls] "m"(calls), [spins] "m"(spins)
               : "rax", "rcx", "rdx", "rsi", "rdi", "r10", "r11", "r12", "memory", XMM_CLOBBERS);
}

bool same(const YmmFile& expected, const YmmFile& got, const char* what) {
  for (int r = 0; r < 16; ++r) {
    if (std::memcmp(expected.bytes[r], got.bytes[r], 32) != 0) {
      std::printf("ymm%d %s changed across %s\n", r,
                  std::memcmp(expected.bytes[r], got.bytes[r], 16) == 0 ? "(upper half)" : "", what);
      return false;
    }
  }
  return true;
}

int check_avx() {
  if (!avx_usable()) {
    std::puts("avx unusable");
    return 0;
  }
  static const char nothing[1] = {0};
  const Syscall calls[] = {
      {"getppid (answered in the guest)", SYS_getppid, {0, 0, 0, 0}},
      {"sched_yield (answered in the guest)", SYS_sched_yield, {0, 0, 0, 0}},
      {"getcwd (forwarded to the host)", SYS_getcwd, {0, 0, 0, 0}},
      {"write (forwarded to the host)", SYS_write, {1, reinterpret_cast<std::uint64_t>(nothing), 0, 0}}};
  std::uint8_t seed = 1;
  for (const Syscall& call : calls) {
    const YmmFile in = ymm_pattern(seed++);
    YmmFile out{};
    ymm_across(in, out, call, 200, 0);
    if (!same(in, out, call.name)) return 1;
  }
  std::puts("avx ok");
  return 0;
}

int check_avx_threads() {
  if (!avx_usable()) {
    std::puts("avx unusable");
    return 0;
  }
  std::atomic<int> failures{0};
  auto worker = [&failures](std::uint8_t seed) {
    static const std::uint32_t never_changes = 0;
    static const timespec one_ms = {0, 1'000'000};
    const std::uint64_t timeout = reinterpret_cast<std::uint64_t>(&one_ms);
    const Syscall yield = {"sched_yield switches", SYS_sched_yield, {0, 0, 0, 0}};
    const Syscall sleep_in_guest = {"futex sleeps (the other thread runs)",
                                    SYS_futex,
                                    {reinterpret_cast<std::uint64_t>(&never_changes), FUTEX_WAIT_PRIVATE, 0, timeout}};
    const Syscall sleep_on_host = {"nanosleeps (forwarded)", SYS_nanosleep, {timeout, 0, 0, 0}};
    const Syscall none = {"time slices", SYS_getppid, {0, 0, 0, 0}};
    const YmmFile in = ymm_pattern(seed);
    for (const auto& [call, calls, spins] : {std::tuple{yield, 300l, 0l}, std::tuple{sleep_in_guest, 20l, 0l},
                                             std::tuple{sleep_on_host, 5l, 0l}, std::tuple{none, 0l, 20'000'000l}}) {
      YmmFile out{};
      ymm_across(in, out, call, calls, spins);
      if (!same(in, out, call.name)) ++failures;
    }
  };
  std::thread other(worker, 7);
  worker(99);
  other.join();
  if (failures != 0) return 1;
  std::puts("avx-threads ok");
  return 0;
}

int check_avx_snapshot() {
  std::puts("before ready");
  std::fflush(stdout);
  if (!avx_usable()) {
    syscall(static_cast<long>(hyperlet::abi::kSyscallReady));
    std::puts("avx unusable");
    return 0;
  }
  const YmmFile in = ymm_pattern(42);
  YmmFile out{};
  ymm_across(in, out, {"hyperlet's ready()", static_cast<long>(hyperlet::abi::kSyscallReady), {0, 0, 0, 0}}, 1, 0);
  if (!same(in, out, "ready() (a snapshot and its restore)")) return 1;
  std::puts("avx-snapshot ok");
  return 0;
}

// ---- AVX-512: zmm0-31 (all 512 bits) and the opmask registers k1-k7 ----

bool avx512_usable() {
  if (!avx_usable()) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX512F)) return false;
  unsigned xcr0_low, xcr0_high;
  asm volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  return (xcr0_low & 0xe6) == 0xe6;  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
}

struct alignas(64) ZmmFile {
  std::uint8_t zmm[32][64];
  std::uint64_t k[7];  // k1-k7, 16 bits each (kmovw: AVX512F)
};

ZmmFile zmm_pattern(std::uint8_t seed) {
  ZmmFile file{};
  for (int r = 0; r < 32; ++r) {
    for (int b = 0; b < 64; ++b) file.zmm[r][b] = static_cast<std::uint8_t>(seed * 53 + r * 64 + b + 1);
  }
  for (int k = 0; k < 7; ++k) file.k[k] = static_cast<std::uint16_t>(seed * 1009 + k * 4099 + 1);
  return file;
}

// Loads `in` into zmm0-31 and k1-k7, makes `calls` sched_yield calls, spins
// `spins` iterations, stores them into `out`.
__attribute__((target("avx512f"))) void zmm_across(const ZmmFile& in, ZmmFile& out, long calls, long spins) {
  const long yield = SYS_sched_yield;
  asm volatile(
      "vmovdqu64 0(%[in]), %%zmm0\n"
      "vmovdqu64 64(%[in]), %%zmm1\n"
      "vmovdqu64 128(%[in]), %%zmm2\n"
      "vmovdqu64 192(%[in]), %%zmm3\n"
      "vmovdqu64 256(%[in]), %%zmm4\n"
      "vmovdqu64 320(%[in]), %%zmm5\n"
      "vmovdqu64 384(%[in]), %%zmm6\n"
      "vmovdqu64 448(%[in]), %%zmm7\n"
      "vmovdqu64 512(%[in]), %%zmm8\n"
      "vmovdqu64 576(%[in]), %%zmm9\n"
      "vmovdqu64 640(%[in]), %%zmm10\n"
      "vmovdqu64 704(%[in]), %%zmm11\n"
      "vmovdqu64 768(%[in]), %%zmm12\n"
      "vmovdqu64 832(%[in]), %%zmm13\n"
      "vmovdqu64 896(%[in]), %%zmm14\n"
      "vmovdqu64 960(%[in]), %%zmm15\n"
      "vmovdqu64 1024(%[in]), %%zmm16\n"
      "vmovdqu64 1088(%[in]), %%zmm17\n"
      "vmovdqu64 1152(%[in]), %%zmm18\n"
      "vmovdqu64 1216(%[in]), %%zmm19\n"
      "vmovdqu64 1280(%[in]), %%zmm20\n"
      "vmovdqu64 1344(%[in]), %%zmm21\n"
      "vmovdqu64 1408(%[in]), %%zmm22\n"
      "vmovdqu64 1472(%[in]), %%zmm23\n"
      "vmovdqu64 1536(%[in]), %%zmm24\n"
      "vmovdqu64 1600(%[in]), %%zmm25\n"
      "vmovdqu64 1664(%[in]), %%zmm26\n"
      "vmovdqu64 1728(%[in]), %%zmm27\n"
      "vmovdqu64 1792(%[in]), %%zmm28\n"
      "vmovdqu64 1856(%[in]), %%zmm29\n"
      "vmovdqu64 1920(%[in]), %%zmm30\n"
      "vmovdqu64 1984(%[in]), %%zmm31\n"
      "kmovw 2048(%[in]), %%k1\n"
      "kmovw 2056(%[in]), %%k2\n"
      "kmovw 2064(%[in]), %%k3\n"
      "kmovw 2072(%[in]), %%k4\n"
      "kmovw 2080(%[in]), %%k5\n"
      "kmovw 2088(%[in]), %%k6\n"
      "kmovw 2096(%[in]), %%k7\n"
      "   mov %[calls], %%r12\n"
      "1: test %%r12, %%r12\n jz 2f\n"
      "   mov %[number], %%rax\n syscall\n dec %%r12\n jmp 1b\n"
      "2: mov %[spins], %%r12\n"
      "3: test %%r12, %%r12\n jz 4f\n dec %%r12\n jmp 3b\n"
      "4:\n"
      "vmovdqu64 %%zmm0, 0(%[out])\n"
      "vmovdqu64 %%zmm1, 64(%[out])\n"
      "vmovdqu64 %%zmm2, 128(%[out])\n"
      "vmovdqu64 %%zmm3, 192(%[out])\n"
      "vmovdqu64 %%zmm4, 256(%[out])\n"
      "vmovdqu64 %%zmm5, 320(%[out])\n"
      "vmovdqu64 %%zmm6, 384(%[out])\n"
      "vmovdqu64 %%zmm7, 448(%[out])\n"
      "vmovdqu64 %%zmm8, 512(%[out])\n"
      "vmovdqu64 %%zmm9, 576(%[out])\n"
      "vmovdqu64 %%zmm10, 640(%[out])\n"
      "vmovdqu64 %%zmm11, 704(%[out])\n"
      "vmovdqu64 %%zmm12, 768(%[out])\n"
      "vmovdqu64 %%zmm13, 832(%[out])\n"
      "vmovdqu64 %%zmm14, 896(%[out])\n"
      "vmovdqu64 %%zmm15, 960(%[out])\n"
      "vmovdqu64 %%zmm16, 1024(%[out])\n"
      "vmovdqu64 %%zmm17, 1088(%[out])\n"
      "vmovdqu64 %%zmm18, 1152(%[out])\n"
      "vmovdqu64 %%zmm19, 1216(%[out])\n"
      "vmovdqu64 %%zmm20, 1280(%[out])\n"
      "vmovdqu64 %%zmm21, 1344(%[out])\n"
      "vmovdqu64 %%zmm22, 1408(%[out])\n"
      "vmovdqu64 %%zmm23, 1472(%[out])\n"
      "vmovdqu64 %%zmm24, 1536(%[out])\n"
      "vmovdqu64 %%zmm25, 1600(%[out])\n"
      "vmovdqu64 %%zmm26, 1664(%[out])\n"
      "vmovdqu64 %%zmm27, 1728(%[out])\n"
      "vmovdqu64 %%zmm28, 1792(%[out])\n"
      "vmovdqu64 %%zmm29, 1856(%[out])\n"
      "vmovdqu64 %%zmm30, 1920(%[out])\n"
      "vmovdqu64 %%zmm31, 1984(%[out])\n"
      "kmovw %%k1, 2048(%[out])\n"
      "kmovw %%k2, 2056(%[out])\n"
      "kmovw %%k3, 2064(%[out])\n"
      "kmovw %%k4, 2072(%[out])\n"
      "kmovw %%k5, 2080(%[out])\n"
      "kmovw %%k6, 2088(%[out])\n"
      "kmovw %%k7, 2096(%[out])\n"
      :
      : [in] "r"(&in), [out] "r"(&out), [calls] "m"(calls), [spins] "m"(spins), [number] "m"(yield)
      : "rax", "rcx", "r11", "r12", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
        "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20",
        "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2",
        "k3", "k4", "k5", "k6", "k7");
}

int check_avx512_threads() {
  if (!avx512_usable()) {
    std::puts("avx512 unusable");
    return 0;
  }
  std::atomic<int> failures{0};
  auto worker = [&failures](std::uint8_t seed) {
    const ZmmFile in = zmm_pattern(seed);
    for (const auto& [what, calls, spins] :
         {std::tuple{"sched_yield switches", 300l, 0l}, std::tuple{"time slices", 0l, 20'000'000l}}) {
      ZmmFile out{};
      zmm_across(in, out, calls, spins);
      for (int r = 0; r < 32; ++r) {
        if (std::memcmp(in.zmm[r], out.zmm[r], 64) != 0) {
          std::printf("zmm%d changed across %s\n", r, what);
          ++failures;
          return;
        }
      }
      for (int k = 0; k < 7; ++k) {
        if (in.k[k] != out.k[k]) {
          std::printf("k%d changed across %s\n", k + 1, what);
          ++failures;
          return;
        }
      }
    }
  };
  std::thread other(worker, 7);
  worker(99);
  other.join();
  if (failures != 0) return 1;
  std::puts("avx512-threads ok");
  return 0;
}

// ---- Signal frames: a handler that uses every ymm register ----

__attribute__((target("avx"))) void clobber_ymm(int) {
  asm volatile(
      "vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n vmovdqa %%ymm0, %%ymm1\n vmovdqa %%ymm0, %%ymm2\n vmovdqa %%ymm0, %%ymm3\n"
      "vmovdqa %%ymm0, %%ymm4\n vmovdqa %%ymm0, %%ymm5\n vmovdqa %%ymm0, %%ymm6\n vmovdqa %%ymm0, %%ymm7\n"
      "vmovdqa %%ymm0, %%ymm8\n vmovdqa %%ymm0, %%ymm9\n vmovdqa %%ymm0, %%ymm10\n vmovdqa %%ymm0, %%ymm11\n"
      "vmovdqa %%ymm0, %%ymm12\n vmovdqa %%ymm0, %%ymm13\n vmovdqa %%ymm0, %%ymm14\n vmovdqa %%ymm0, %%ymm15\n" ::
          : XMM_CLOBBERS);
}

int check_avx_signal() {
  if (!avx_usable()) {
    std::puts("avx unusable");
    return 0;
  }
  struct sigaction action {};
  action.sa_handler = clobber_ymm;
  sigaction(SIGUSR1, &action, nullptr);
  const Syscall raise_usr1 = {
      "signal handlers (kill of itself, SIGUSR1)", SYS_kill, {static_cast<std::uint64_t>(getpid()), SIGUSR1, 0, 0}};
  const YmmFile in = ymm_pattern(5);
  YmmFile out{};
  ymm_across(in, out, raise_usr1, 100, 0);
  if (!same(in, out, raise_usr1.name)) return 1;
  std::puts("avx-signal ok");
  return 0;
}

// Naive references for glibc's optimized string functions.
std::size_t reference_strlen(const char* s) {
  std::size_t n = 0;
  while (s[n] != 0) ++n;
  return n;
}

int check_avx2_strings() {
  if (!avx_usable() || !CPU_FEATURE_ACTIVE(AVX2)) {
    std::puts("avx2 unusable");
    return 0;
  }
  // Long enough for the vector loops, with every alignment of a 64-byte line.
  constexpr std::size_t kMaxLength = 600;
  std::vector<char> buffer(kMaxLength + 256, 'x');
  std::vector<char> other(kMaxLength + 256, 'x');
  std::size_t (*volatile strlen_fn)(const char*) = &std::strlen;
  for (std::size_t align = 0; align < 64; align += 3) {
    for (std::size_t length = 0; length < kMaxLength; length += (length < 80 ? 1 : 7)) {
      char* s = buffer.data() + 64 + align;
      char* t = other.data() + 64 + (align * 5) % 64;
      for (std::size_t i = 0; i < length; ++i) s[i] = t[i] = static_cast<char>('a' + (i * 7 + align) % 26);
      s[length] = t[length] = 0;
      s[length + 1] = t[length + 1] = 'z';  // junk after the end must not count
      auto fail = [&](const char* function) {
        std::printf("%s wrong at length %zu, alignment %zu\n", function, length, align);
        return 1;
      };
      if (strlen_fn(s) != length || reference_strlen(s) != length) return fail("strlen");
      if (length > 0) {
        const char last = s[length - 1];
        if (std::memchr(s, last, length) != std::strchr(s, last)) return fail("memchr/strchr");
        if (std::strrchr(s, last) != s + length - 1) return fail("strrchr");
      }
      if (std::memchr(s, 'Q', length) != nullptr || std::strchr(s, 'Q') != nullptr) return fail("memchr/strchr miss");
      if (std::strcmp(s, t) != 0 || std::memcmp(s, t, length) != 0) return fail("strcmp/memcmp equal");
      if (length > 0) {
        t[length - 1] = static_cast<char>(t[length - 1] + 1);
        if (std::strcmp(s, t) >= 0 || std::memcmp(s, t, length) >= 0 || std::strncmp(s, t, length) >= 0) {
          return fail("strcmp/memcmp/strncmp order");
        }
        t[length - 1] = s[length - 1];
      }
      std::memset(t, 'm', length);
      for (std::size_t i = 0; i < length; ++i) {
        if (t[i] != 'm') return fail("memset");
      }
      if (t[length] != 0) return fail("memset past the end");
      std::memcpy(t, s, length);
      if (std::memcmp(s, t, length + 1) != 0) return fail("memcpy");
      std::memmove(s + 1, s, length);  // overlapping, forwards
      for (std::size_t i = 0; i < length; ++i) {
        if (s[i + 1] != t[i]) return fail("memmove");
      }
      s[length + 1] = 0;
    }
  }
  // glibc's AVX2 string functions end with vzeroupper, which clears every ymm
  // upper half; its SSE2 ones never touch ymm15's. (Run natively on an AVX-512
  // host, glibc picks EVEX versions, which need no vzeroupper: hyperlet never
  // enables AVX-512 state, so in its guests the AVX2 versions are the ones.)
  if (CPU_FEATURE_ACTIVE(AVX512VL)) {
    std::puts("avx2-strings ok");
    return 0;
  }
  const char* text = "a string long enough for the vector loop, long enough to say it twice";
  alignas(32) std::uint8_t in[32], out[32];
  for (int i = 0; i < 32; ++i) in[i] = static_cast<std::uint8_t>(0x80 + i);
  ymm15_around_call(reinterpret_cast<const void*>(strlen_fn), text, in, out);
  bool upper_cleared = true;
  for (int i = 16; i < 32; ++i) upper_cleared = upper_cleared && out[i] == 0;
  if (!upper_cleared) {
    std::puts("glibc's strlen is not an AVX2 version: ymm15's upper half survived it");
    return 1;
  }
  std::puts("avx2-strings ok");
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
  std::printf("glibc-avx2-active %d\n", CPU_FEATURE_ACTIVE(AVX2) ? 1 : 0);
  __get_cpuid_count(7, 0, &a, &b, &c, &d);
  std::printf("avx2 %d\navx512f %d\n", !!(b & bit_AVX2), !!(b & bit_AVX512F));
  __get_cpuid(1, &a, &b, &c, &d);
  if (!(c & bit_OSXSAVE)) return 0;  // without it, xgetbv is #UD
  unsigned xcr0_low = 0, xcr0_high = 0;
  asm volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  std::printf("xcr0-x87 %d\nxcr0-sse %d\nxcr0-avx %d\nxcr0-avx512 %d\n", !!(xcr0_low & 1), !!(xcr0_low & 2),
              !!(xcr0_low & 4), (xcr0_low & 0xe0) == 0xe0);
  unsigned size_now = 0, size_max = 0;
  __get_cpuid_count(0xd, 0, &a, &size_now, &size_max, &d);
  std::printf("xsave-size %u\nxsave-leaf-matches-xcr0 %d\n", size_now,
              a == xcr0_low && d == xcr0_high && size_now == size_max);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "registers") return check_registers();
  if (mode == "sse") return check_sse();
  if (mode == "sse-threads") return check_sse_threads();
  if (mode == "avx") return check_avx();
  if (mode == "avx-threads") return check_avx_threads();
  if (mode == "avx512-threads") return check_avx512_threads();
  if (mode == "avx-signal") return check_avx_signal();
  if (mode == "avx-snapshot") return check_avx_snapshot();
  if (mode == "avx2-strings") return check_avx2_strings();
  if (mode == "cpuid") return print_cpuid();
  std::fprintf(stderr,
               "usage: cpu_state "
               "registers|sse|sse-threads|avx|avx-threads|avx512-threads|avx-signal|avx-snapshot|avx2-strings|cpuid\n");
  return 2;
}
