#include "cli/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hyperlet::bench {

double quantile_of_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return sorted[below] + (sorted[above] - sorted[below]) * fraction;
}

Summary summarize(std::span<const double> samples) {
  Summary summary;
  if (samples.empty()) return summary;
  std::vector<double> sorted(samples.begin(), samples.end());
  std::ranges::sort(sorted);
  summary.count = sorted.size();
  summary.min = sorted.front();
  summary.max = sorted.back();
  summary.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(sorted.size());
  summary.median = quantile_of_sorted(sorted, 0.5);
  summary.p25 = quantile_of_sorted(sorted, 0.25);
  summary.p75 = quantile_of_sorted(sorted, 0.75);
  summary.p90 = quantile_of_sorted(sorted, 0.90);
  summary.p99 = quantile_of_sorted(sorted, 0.99);
  return summary;
}

std::vector<std::size_t> round_robin_order(std::size_t round, std::size_t count) {
  std::vector<std::size_t> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = (round + i) % count;
  return order;
}

double ratio(double a, double b) { return b == 0 ? 0 : a / b; }

}  // namespace hyperlet::bench
