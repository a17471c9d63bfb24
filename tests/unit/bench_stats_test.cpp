// hyperlet bench's statistics: percentiles, summaries, the round-robin order.
#include "cli/bench_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace hyperlet::bench {
namespace {

TEST(BenchStats, QuantilesInterpolateBetweenRanks) {
  const std::vector<double> sorted = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_DOUBLE_EQ(quantile_of_sorted(sorted, 0), 1);
  EXPECT_DOUBLE_EQ(quantile_of_sorted(sorted, 1), 10);
  EXPECT_DOUBLE_EQ(quantile_of_sorted(sorted, 0.5), 5.5);
  EXPECT_DOUBLE_EQ(quantile_of_sorted(sorted, 0.9), 9.1);
  EXPECT_NEAR(quantile_of_sorted(sorted, 0.99), 9.91, 1e-9);
}

TEST(BenchStats, QuantileOfOneOrNoValue) {
  EXPECT_DOUBLE_EQ(quantile_of_sorted(std::vector<double>{7}, 0.99), 7);
  EXPECT_DOUBLE_EQ(quantile_of_sorted(std::vector<double>{}, 0.5), 0);
  EXPECT_DOUBLE_EQ(quantile_of_sorted(std::vector<double>{1, 3}, 2.0), 3);  // clamped
}

TEST(BenchStats, SummaryOfUnsortedSamples) {
  const std::vector<double> samples = {9, 1, 5, 3, 7};
  const Summary s = summarize(samples);
  EXPECT_EQ(s.count, 5U);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 9);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_DOUBLE_EQ(s.median, 5);
  EXPECT_DOUBLE_EQ(s.p25, 3);
  EXPECT_DOUBLE_EQ(s.p75, 7);
  EXPECT_DOUBLE_EQ(s.p90, 8.2);
  EXPECT_LE(s.p90, s.p99);
  EXPECT_LE(s.p99, s.max);
}

TEST(BenchStats, EmptySummaryIsZero) {
  const Summary s = summarize(std::vector<double>{});
  EXPECT_EQ(s.count, 0U);
  EXPECT_EQ(s.median, 0);
}

TEST(BenchStats, RoundRobinRotatesAndCoversEveryBaseline) {
  EXPECT_EQ(round_robin_order(0, 3), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(round_robin_order(1, 3), (std::vector<std::size_t>{1, 2, 0}));
  EXPECT_EQ(round_robin_order(5, 3), (std::vector<std::size_t>{2, 0, 1}));
  EXPECT_TRUE(round_robin_order(4, 0).empty());
  // Over `count` rounds every baseline runs first once.
  std::vector<std::size_t> firsts;
  for (std::size_t round = 0; round < 6; ++round) firsts.push_back(round_robin_order(round, 6).front());
  std::ranges::sort(firsts);
  EXPECT_EQ(firsts, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5}));
}

TEST(BenchStats, RatioOfZeroIsZero) {
  EXPECT_DOUBLE_EQ(ratio(3, 2), 1.5);
  EXPECT_DOUBLE_EQ(ratio(3, 0), 0);
}

}  // namespace
}  // namespace hyperlet::bench
