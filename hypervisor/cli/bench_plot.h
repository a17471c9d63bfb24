// `hyperlet bench --plot FILE.svg`: the distributions as an SVG a browser shows
// as it is: one row per baseline, its runs as dots, a box from p25 to p75, the
// median as a bar, whiskers from min to max, a labelled value axis (logarithmic
// when the baselines differ by more than 20×). Pure, unit-tested without KVM.
#pragma once

#include <string>
#include <vector>

#include "cli/bench_report.h"

namespace hyperlet::bench {

struct PlotSeries {
  std::string label;
  std::vector<double> values;  // in PlotSpec::unit
  std::string annotation;      // printed right of the row, e.g. "412 pages"
};

struct PlotSpec {
  std::string title;
  std::string subtitle;
  std::string unit;  // "ms", "µs", "KiB"
  std::string axis_label;
  std::string dots = "runs";  // what one dot is, for the legend
  std::vector<PlotSeries> series;
};

// Ticks for an axis from low to high: 1-2-5 steps per decade on a log axis,
// else "nice" linear steps (1, 2 or 5 × 10^k), about `wanted` of them.
std::vector<double> axis_ticks(double low, double high, bool logarithmic, int wanted = 6);
// Text for &, <, >, " and ' in SVG text and attributes.
std::string xml_escape(const std::string& text);

std::string render_svg(const PlotSpec& spec);
PlotSpec plot_of(const BenchReport& report);
PlotSpec plot_of(const DensityReport& report);

}  // namespace hyperlet::bench
