#include "vm/run_stats.h"

#include <gtest/gtest.h>

#include <string>

namespace hyperlet {
namespace {

// The budget line is there only when --memory is a budget apart from the address space.
TEST(RunStats, TheMemoryBudgetLineSaysUseAtTheEndPeakBudgetAndAddressSpace) {
  RunStats stats;
  stats.memory_charged = 3ull << 20;
  stats.memory_charged_peak = 9ull << 20 | 1ull << 19;
  stats.memory_budget = 56ull << 20;
  stats.address_space = 2ull << 30;
  const std::string text = format_stats(stats);
  EXPECT_NE(text.find("  memory budget: 3.0 MiB in use at the end, 9.5 MiB at most, of 56.0 MiB (heap and usable "
                      "mappings; --memory); address space 2048 MiB\n"),
            std::string::npos)
      << text;
  stats.memory_budget = 0;
  EXPECT_EQ(format_stats(stats).find("memory budget"), std::string::npos);
}

// A forked child's stats say whose they are and count from the fork: no boot
// of an image, times since the fork.
TEST(RunStats, AForkedChildsStatsNameItAndItsParentAndStartAtTheFork) {
  RunStats stats;
  stats.started = 1'000'000'000;
  stats.vm_created = stats.started + 2'500'000;
  stats.exited = stats.started + 10'000'000;
  stats.process_id = 4242;
  stats.forked_from = 1;
  stats.syscalls["write"] = 3;
  const std::string text = format_stats(stats);
  EXPECT_NE(text.find(" stats of process 4242 (forked from 1; from the fork on):\n  phases (ms since the fork):\n"
                      "    vm created              2.500\n    exit                   10.000\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("image loaded"), std::string::npos) << text;
  EXPECT_NE(text.find("  syscalls: 3\n    write                3\n"), std::string::npos) << text;

  stats.forked_from = 0;
  const std::string first = format_stats(stats);
  EXPECT_NE(first.find(" stats:\n  boot phases (ms since hyperlet started):\n"), std::string::npos) << first;
  EXPECT_NE(first.find("image loaded"), std::string::npos) << first;
}

}  // namespace
}  // namespace hyperlet
