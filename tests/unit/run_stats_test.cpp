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

}  // namespace
}  // namespace hyperlet
