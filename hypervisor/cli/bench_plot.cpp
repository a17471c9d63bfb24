#include "cli/bench_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace hyperlet::bench {

namespace {

constexpr double kWidth = 1000;
constexpr double kLeft = 200;   // room for the baseline names
constexpr double kRight = 210;  // room for the median and the annotation
constexpr double kTop = 78;
constexpr double kRowHeight = 54;
constexpr double kBottom = 70;  // tick labels and the axis label

constexpr std::array<const char*, 8> kColors = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                                "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"};

bool wants_log_scale(double low, double high) { return low > 0 && high / low > 20; }

std::string format_tick(double value) {
  if (value == 0) return "0";
  if (std::abs(value) >= 100) return fmt::format("{:.0f}", value);
  if (std::abs(value) >= 1) return fmt::format("{:.4g}", value);
  return fmt::format("{:.3g}", value);
}

// The axis's scale: a value to an x coordinate.
struct Scale {
  double low;
  double high;
  bool logarithmic;
  double x(double value) const {
    const double plot_width = kWidth - kLeft - kRight;
    if (logarithmic) {
      value = std::max(value, low);
      return kLeft + (std::log10(value) - std::log10(low)) / (std::log10(high) - std::log10(low)) * plot_width;
    }
    return kLeft + (value - low) / (high - low) * plot_width;
  }
};

Scale scale_for(const PlotSpec& spec) {
  double low = std::numeric_limits<double>::max();
  double high = 0;
  for (const PlotSeries& series : spec.series) {
    for (double value : series.values) {
      low = std::min(low, value);
      high = std::max(high, value);
    }
  }
  if (high <= 0 || low > high) return {0, 1, false};
  const bool logarithmic = wants_log_scale(low, high);
  if (logarithmic) {
    // From the 1-2-5 step at or below the smallest value to the one at or above
    // the largest: no empty decade on either side.
    const auto step_below = [](double value) {
      const double decade = std::pow(10, std::floor(std::log10(value)));
      for (double step : {5.0, 2.0, 1.0}) {
        if (decade * step <= value) return decade * step;
      }
      return decade;
    };
    const auto step_above = [](double value) {
      const double decade = std::pow(10, std::floor(std::log10(value)));
      for (double step : {1.0, 2.0, 5.0, 10.0}) {
        if (decade * step >= value) return decade * step;
      }
      return decade * 10;
    };
    return {step_below(low), step_above(high), true};
  }
  // End the axis on the tick at or above the largest value.
  const std::vector<double> ticks = axis_ticks(0, high, false);
  const double step = ticks.size() >= 2 ? ticks[1] - ticks[0] : high;
  return {0, std::max(high, std::ceil(high / step) * step), false};
}

}  // namespace

std::vector<double> axis_ticks(double low, double high, bool logarithmic, int wanted) {
  std::vector<double> ticks;
  if (!(high > low)) return ticks;
  if (logarithmic) {
    if (low <= 0) return ticks;
    for (double decade = std::pow(10, std::floor(std::log10(low))); decade <= high * 1.0001; decade *= 10) {
      for (double step : {1.0, 2.0, 5.0}) {
        const double tick = decade * step;
        if (tick >= low * 0.9999 && tick <= high * 1.0001) ticks.push_back(tick);
      }
    }
    return ticks;
  }
  const double rough = (high - low) / std::max(wanted, 1);
  const double power = std::pow(10, std::floor(std::log10(rough)));
  double step = power;
  for (double multiple : {1.0, 2.0, 5.0, 10.0}) {
    step = multiple * power;
    if (step >= rough) break;
  }
  const double first = std::ceil(low / step) * step;
  for (double tick = first; tick <= high + step * 0.5; tick += step) ticks.push_back(std::abs(tick) < 1e-12 ? 0 : tick);
  return ticks;
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_svg(const PlotSpec& spec) {
  const double rows = static_cast<double>(std::max<std::size_t>(spec.series.size(), 1));
  const double height = kTop + rows * kRowHeight + kBottom;
  const double plot_bottom = kTop + rows * kRowHeight;
  const Scale scale = scale_for(spec);
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"13\">\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"26\" font-size=\"17\" font-weight=\"bold\">{3}</text>\n"
      "<text x=\"{2}\" y=\"48\" fill=\"#444\">{4}</text>\n",
      kWidth, height, 16, xml_escape(spec.title), xml_escape(spec.subtitle));

  // Grid lines and tick labels.
  svg += "<g class=\"axis\" stroke=\"#ddd\">\n";
  const std::vector<double> ticks = axis_ticks(scale.low, scale.high, scale.logarithmic);
  for (double tick : ticks) {
    const double x = scale.x(tick);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\"/>\n", x, kTop, plot_bottom);
  }
  svg += "</g>\n<g class=\"tick-labels\" text-anchor=\"middle\" fill=\"#333\">\n";
  for (double tick : ticks) {
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{}</text>\n", scale.x(tick), plot_bottom + 18, format_tick(tick));
  }
  svg += "</g>\n";
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333\"/>\n", kLeft, plot_bottom,
                     kWidth - kRight);
  svg += fmt::format("<text class=\"axis-label\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}{}</text>\n",
                     (kLeft + kWidth - kRight) / 2, plot_bottom + 44, xml_escape(spec.axis_label),
                     scale.logarithmic ? " (logarithmic scale)" : "");

  for (std::size_t row = 0; row < spec.series.size(); ++row) {
    const PlotSeries& series = spec.series[row];
    const char* color = kColors[row % kColors.size()];
    const double middle = kTop + (static_cast<double>(row) + 0.5) * kRowHeight;
    const Summary s = summarize(series.values);
    svg += fmt::format("<g class=\"series\" data-label=\"{}\">\n", xml_escape(series.label));
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
                       kLeft - 10, middle, xml_escape(series.label));
    if (!series.values.empty()) {
      // Whiskers min..max, the box p25..p75, the median.
      svg += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"1.5\"/>\n",
          scale.x(s.min), middle, scale.x(s.max), middle, color);
      for (double end : {s.min, s.max}) {
        svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\"/>\n",
                           scale.x(end), middle - 7, middle + 7, color);
      }
      svg += fmt::format(
          "<rect class=\"box\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\" "
          "fill-opacity=\"0.18\" stroke=\"{}\"/>\n",
          scale.x(s.p25), middle - 14, std::max(scale.x(s.p75) - scale.x(s.p25), 1.0), 28, color, color);
      // The runs, spread vertically by a fixed low-discrepancy sequence so that
      // equal values do not hide each other and the picture is reproducible.
      for (std::size_t i = 0; i < series.values.size(); ++i) {
        const double jitter = std::fmod(static_cast<double>(i) * 0.6180339887, 1.0) * 22 - 11;
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.2\" fill=\"{}\" fill-opacity=\"0.55\"/>\n",
                           scale.x(series.values[i]), middle + jitter, color);
      }
      svg += fmt::format(
          "<line class=\"median\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"black\" "
          "stroke-width=\"3\"/>\n",
          scale.x(s.median), middle - 16, middle + 16);
      svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" dominant-baseline=\"middle\">{} {}{}</text>\n",
                         kWidth - kRight + 12, middle, format_significant(s.median), xml_escape(spec.unit),
                         series.annotation.empty() ? "" : " · " + xml_escape(series.annotation));
    }
    svg += "</g>\n";
  }
  svg += fmt::format(
      "<text x=\"{}\" y=\"{}\" fill=\"#555\" font-size=\"11\">dots: {}; box: p25–p75; black bar: median "
      "(value at right); whiskers: min–max</text>\n",
      16, height - 10, xml_escape(spec.dots));
  svg += "</svg>\n";
  return svg;
}

PlotSpec plot_of(const BenchReport& report) {
  PlotSpec spec;
  spec.title = fmt::format("hyperlet bench {}", report.benchmark);
  spec.subtitle =
      fmt::format("{} runs per baseline after {} warm-up, interleaved; {}", report.runs, report.warmup, report.what);
  // One unit for all rows, chosen by the slowest baseline's median (as the table).
  double largest = 0;
  for (const BaselineResult& baseline : report.baselines)
    largest = std::max(largest, summarize(baseline.samples).median);
  double divisor = 1;
  spec.unit = report.unit;
  if (report.unit == "ns") {
    if (largest >= 1e6) {
      divisor = 1e6;
      spec.unit = "ms";
    } else if (largest >= 1e3) {
      divisor = 1e3;
      spec.unit = "µs";
    }
  }
  spec.axis_label = fmt::format("{} ({})", report.what.empty() ? "value" : report.what, spec.unit);
  for (const BaselineResult& baseline : report.baselines) {
    PlotSeries series{baseline.name, {}, {}};
    for (double value : baseline.samples) series.values.push_back(value / divisor);
    if (baseline.guest_pages_touched) series.annotation = fmt::format("{} guest pages", *baseline.guest_pages_touched);
    spec.series.push_back(std::move(series));
  }
  return spec;
}

PlotSpec plot_of(const DensityReport& report) {
  PlotSpec spec;
  spec.title = "hyperlet bench density";
  spec.subtitle =
      fmt::format("{} idle microVMs at once per mode: host memory of each (PSS of hyperlet + reaper)", report.vm_count);
  spec.unit = "KiB";
  spec.dots = "VMs";
  spec.axis_label = "PSS per VM (KiB)";
  for (const DensityMode& mode : report.modes) {
    PlotSeries series{mode.name, {}, fmt::format("{:.0f} VMs/s", start_rate_per_second(mode))};
    for (const DensityVm& vm : mode.vms) series.values.push_back(static_cast<double>(vm.pss_kib));
    spec.series.push_back(std::move(series));
  }
  return spec;
}

}  // namespace hyperlet::bench
