// Which clock ids are CPU-time clocks and whose (<hyperlet/clocks.h>, shared by
// the vDSO and the guest kernel), and that the wall clocks no longer answer for them.
#include <gtest/gtest.h>
#include <hyperlet/clocks.h>
#include <time.h>

#include <cstdint>

namespace hyperlet {
namespace {

// What glibc's clock_getcpuclockid and pthread_getcpuclockid make (Linux's
// MAKE_PROCESS_CPUCLOCK / MAKE_THREAD_CPUCLOCK with CPUCLOCK_SCHED).
std::uint64_t process_clock_of(std::int32_t pid) { return static_cast<std::uint32_t>((~pid << 3) | 2); }
std::uint64_t thread_clock_of(std::int32_t tid) { return static_cast<std::uint32_t>((~tid << 3) | 6); }

TEST(CpuClock, TheTwoNamedClocksAreTheCallersOwn) {
  clocks::CpuClock clock{};
  ASSERT_TRUE(clocks::cpu_clock(CLOCK_PROCESS_CPUTIME_ID, clock));
  EXPECT_FALSE(clock.per_thread);
  EXPECT_EQ(clock.id, 0);
  ASSERT_TRUE(clocks::cpu_clock(CLOCK_THREAD_CPUTIME_ID, clock));
  EXPECT_TRUE(clock.per_thread);
  EXPECT_EQ(clock.id, 0);
}

TEST(CpuClock, DecodesTheIdsGlibcMakes) {
  clockid_t made{};
  ASSERT_EQ(clock_getcpuclockid(0, &made), 0);  // this process: the encoded form of pid 0 or its pid
  clocks::CpuClock clock{};
  ASSERT_TRUE(clocks::cpu_clock(static_cast<std::uint32_t>(made), clock));
  EXPECT_FALSE(clock.per_thread);
  ASSERT_TRUE(clocks::cpu_clock(process_clock_of(1234), clock));
  EXPECT_FALSE(clock.per_thread);
  EXPECT_EQ(clock.id, 1234);
  ASSERT_TRUE(clocks::cpu_clock(thread_clock_of(77), clock));
  EXPECT_TRUE(clock.per_thread);
  EXPECT_EQ(clock.id, 77);
  // The syscall's argument arrives sign-extended or not: only the low 32 bits count.
  ASSERT_TRUE(clocks::cpu_clock(static_cast<std::uint64_t>(static_cast<std::int64_t>((~77 << 3) | 6)), clock));
  EXPECT_EQ(clock.id, 77);
}

TEST(CpuClock, RefusesTheRest) {
  clocks::CpuClock clock{};
  for (std::uint64_t id : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME, 12, 0x7fffffff}) {
    EXPECT_FALSE(clocks::cpu_clock(id, clock)) << id;
  }
  // Kind 3 is none of Linux's (prof, virt, sched).
  EXPECT_FALSE(clocks::cpu_clock(static_cast<std::uint32_t>((~0 << 3) | 3), clock));
  EXPECT_FALSE(clocks::cpu_clock(static_cast<std::uint32_t>((~5 << 3) | 7), clock));
}

TEST(CpuClock, TheWallClocksNoLongerAnswerForIt) {
  const abi::VdsoData offsets{100, 200};
  std::int64_t ns = 0;
  EXPECT_FALSE(clocks::clock_ns(CLOCK_PROCESS_CPUTIME_ID, 5, offsets, ns));
  EXPECT_FALSE(clocks::clock_ns(CLOCK_THREAD_CPUTIME_ID, 5, offsets, ns));
  ASSERT_TRUE(clocks::clock_ns(CLOCK_MONOTONIC, 5, offsets, ns));
  EXPECT_EQ(ns, 205);
}

}  // namespace
}  // namespace hyperlet
