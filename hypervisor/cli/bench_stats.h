// `hyperlet bench`: the statistics of a benchmark's samples, and the order in
// which baselines take turns. Pure functions, unit-tested without KVM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace hyperlet::bench {

// What every baseline reports. Values are in the samples' own unit (ns for times).
struct Summary {
  std::size_t count = 0;
  double min = 0;
  double max = 0;
  double mean = 0;
  double median = 0;
  double p25 = 0;
  double p75 = 0;
  double p90 = 0;
  double p99 = 0;
};

// The q-quantile (0 ≤ q ≤ 1) of sorted values, linearly interpolated between the
// two nearest ranks (numpy's default, R's type 7): with few samples, p99 lies
// between the two largest instead of always being the maximum. Empty → 0.
double quantile_of_sorted(std::span<const double> sorted, double q);

Summary summarize(std::span<const double> samples);

// The baselines' order in round `round` of `count` baselines: a rotation that
// starts at `round mod count`, so that no baseline always runs right after the
// same one (a cache or a CPU frequency it leaves behind would bias the next).
std::vector<std::size_t> round_robin_order(std::size_t round, std::size_t count);

// a / b, or 0 when b is 0 (a baseline that took no time has no ratio).
double ratio(double a, double b);

}  // namespace hyperlet::bench
