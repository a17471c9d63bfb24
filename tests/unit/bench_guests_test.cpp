// hyperlet bench's own guests and the parsers of what processes print.
#include "cli/bench_guests.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <ctime>

#include "cli/bench_baselines.h"
#include "cli/bench_density.h"
#include "loader/elf_file.h"

namespace hyperlet::bench {
namespace {

TEST(BenchGuests, HypercallGuestIsAStaticProgramTheLoaderAccepts) {
  const std::vector<std::uint8_t> elf = hypercall_guest_elf(1234);
  auto parsed = parse_elf(std::as_bytes(std::span(elf)), "hypercall-guest");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_FALSE(parsed->position_independent);
  ASSERT_EQ(parsed->segments.size(), 1U);
  EXPECT_TRUE(parsed->segments[0].executable);
  EXPECT_EQ(parsed->entry, 0x401000U);
  EXPECT_EQ(parsed->segments[0].file_offset, 0x1000U);
  // The three loops count `calls` (mov ebx, imm32).
  int counts = 0;
  for (std::size_t i = 0; i + 5 <= elf.size(); ++i) {
    std::uint32_t value = 0;
    std::memcpy(&value, &elf[i + 1], sizeof value);
    if (elf[i] == 0xbb && value == 1234) ++counts;
  }
  EXPECT_EQ(counts, 3);
}

TEST(BenchGuests, HypercallGuestOutputIsPerCallTimes) {
  const std::array<timespec, 4> times = {timespec{10, 0}, timespec{10, 50'000'000}, timespec{10, 150'000'000},
                                         timespec{10, 180'000'000}};
  std::array<std::uint8_t, 64> bytes{};
  std::memcpy(bytes.data(), times.data(), bytes.size());
  auto parsed = parse_hypercall_guest_output(bytes, 1000);
  ASSERT_TRUE(parsed);
  EXPECT_DOUBLE_EQ(parsed->guest_answered_ns, 50'000);
  EXPECT_DOUBLE_EQ(parsed->forwarded_ns, 100'000);
  EXPECT_DOUBLE_EQ(parsed->direct_ns, 30'000);
  EXPECT_FALSE(parse_hypercall_guest_output(std::span(bytes).first(63), 1000));
  const std::array<timespec, 4> backwards = {timespec{10, 5}, timespec{10, 6}, timespec{10, 9}, timespec{10, 8}};
  std::memcpy(bytes.data(), backwards.data(), bytes.size());
  EXPECT_FALSE(parse_hypercall_guest_output(bytes, 10));
}

TEST(BenchGuests, RawGuestCodeEndsInAnExit) {
  const auto floor = RawKvmGuest::floor_code();
  ASSERT_EQ(floor.size(), 3U);
  EXPECT_EQ(floor[0], 0xe6);  // out imm8, al
  EXPECT_EQ(floor[1], kRawGuestPort);
  const auto loop = RawKvmGuest::exit_loop_code();
  EXPECT_EQ(loop[2], 0xeb);  // jmp rel8 back to the out
  EXPECT_EQ(static_cast<std::int8_t>(loop[3]), -4);
}

TEST(BenchParsers, GuestPagesTouchedFromStats) {
  EXPECT_EQ(parse_guest_pages_touched("  VM exits: 3\n  guest pages touched: 412 (1648 KiB)\n"), 412U);
  EXPECT_FALSE(parse_guest_pages_touched("no stats here"));
  EXPECT_FALSE(parse_guest_pages_touched("guest pages touched: x"));
}

TEST(BenchParsers, RestoreDetection) {
  EXPECT_TRUE(help_offers_restore("  --restore FILE  continue from a snapshot"));
  EXPECT_FALSE(help_offers_restore("  --memory SIZE"));
  EXPECT_TRUE(restore_refused(125, "hyperlet: The following argument was not expected: --restore"));
  EXPECT_FALSE(restore_refused(0, "--restore"));
  EXPECT_FALSE(restore_refused(125, "invalid --memory"));
}

TEST(BenchParsers, ShellWordsQuoteWhatAShellWouldSplit) {
  EXPECT_EQ(shell_words({"hyperlet", "run", "a b", "it's", "--x=1"}), "hyperlet run 'a b' 'it'\\''s' --x=1");
  EXPECT_EQ(shell_words({""}), "''");
}

TEST(BenchParsers, DensityProcFiles) {
  EXPECT_TRUE(syscall_line_is_waiting("0 0x0 0x7f1f619c8380 0x1000 0x7ffe941d7200 0x3c8380 0x7dbd000"));
  EXPECT_TRUE(syscall_line_is_waiting("230 0x1 0x0 0x7ffd 0x0 0x0 0x0 0x0 0x0"));             // clock_nanosleep
  EXPECT_FALSE(syscall_line_is_waiting("16 0x6 0xae80 0x0 0x0 0x7ffe941d7d70 0x0 0x0 0x0"));  // KVM_RUN
  EXPECT_FALSE(syscall_line_is_waiting("running"));
  EXPECT_FALSE(syscall_line_is_waiting(""));
  EXPECT_EQ(parse_pss_kib("Rss: 9000 kB\nPss:                4471 kB\nPss_Dirty: 2260 kB\n"), 4471U);
  EXPECT_FALSE(parse_pss_kib("Rss: 9000 kB\n"));
}

TEST(BenchParsers, PublishEachCountsTheHostPortUpPerVm) {
  auto plain = parse_publish_each("20000:8080", 1000);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->rule_for(0), "20000:8080");
  EXPECT_EQ(plain->rule_for(999), "20999:8080");
  auto address = parse_publish_each("127.0.0.1:30000:53/udp", 10);
  ASSERT_TRUE(address) << address.error().message;
  EXPECT_EQ(address->rule_for(9), "127.0.0.1:30009:53/udp");
  auto v6 = parse_publish_each("[::1]:40000:8080", 2);
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->rule_for(1), "[::1]:40001:8080");
  EXPECT_FALSE(parse_publish_each("65000:8080", 1000));  // the last VM's port would be past 65535
  EXPECT_TRUE(parse_publish_each("65000:8080", 536));
  EXPECT_FALSE(parse_publish_each("8080", 2));
}

// /proc/PID/smaps of a restored VM: guest memory at 0x7f0000000000 (8 MiB),
// the snapshot's first run (file offset 0x3000) at guest page 0x10.
TEST(BenchParsers, GuestWrittenCountsPrivatePagesInGuestMemoryOnly) {
  const std::string smaps =
      "55d000000000-55d000100000 rw-p 00000000 00:00 0 [heap]\n"
      "Anonymous:           900 kB\n"
      "7f0000000000-7f0000010000 rw-p 00000000 00:00 0 \n"
      "Anonymous:            12 kB\n"
      "7f0000010000-7f0000030000 rw-p 00003000 fd:01 4242 /tmp/app.snapshot\n"
      "Anonymous:            40 kB\n"
      "7f0000030000-7f0000800000 rw-p 00000000 00:00 0 \n"
      "Anonymous:             8 kB\n"
      "7f0000900000-7f0000a00000 r--p 00003000 fd:01 4242 /tmp/app.snapshot\n"
      "Anonymous:             0 kB\n";
  const SnapshotMapping snapshot{4242, 0x3000, 0x10000, 8 << 20};
  EXPECT_EQ(guest_written_kib(smaps, snapshot), 60U);
  EXPECT_FALSE(guest_written_kib(smaps, SnapshotMapping{4243, 0x3000, 0x10000, 8 << 20}));
}

}  // namespace
}  // namespace hyperlet::bench
