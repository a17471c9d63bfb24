#include "cli/bench_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace hyperlet::bench {

namespace {

const BaselineResult* find_baseline(const BenchReport& report, const std::string& name) {
  for (const BaselineResult& baseline : report.baselines) {
    if (baseline.name == name) return &baseline;
  }
  return nullptr;
}

// Non-time units (KiB, counts) print as plain numbers.
std::string format_value(double value, double magnitude, const std::string& unit) {
  if (unit == "ns") return format_ns(value, magnitude);
  return fmt::format("{:.0f} {}", value, unit);
}

// The magnitude that picks one display unit for a whole table: the largest median.
double display_magnitude(const BenchReport& report) {
  double largest = 0;
  for (const BaselineResult& baseline : report.baselines)
    largest = std::max(largest, summarize(baseline.samples).median);
  return largest;
}

}  // namespace

std::string format_significant(double value) {
  const double size = std::abs(value);
  if (size < 1) return fmt::format("{:.3f}", value);
  if (size < 10) return fmt::format("{:.2f}", value);
  if (size < 100) return fmt::format("{:.1f}", value);
  return fmt::format("{:.0f}", value);
}

namespace {

// CSV fields are names and commands; quote them as RFC 4180 says.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

void append_skipped_and_notes(std::string& out, const std::vector<SkippedBaseline>& skipped,
                              const std::vector<std::string>& notes) {
  for (const SkippedBaseline& skip : skipped) out += fmt::format("skipped: {}: {}\n", skip.name, skip.reason);
  for (const std::string& note : notes) out += fmt::format("note: {}\n", note);
}

}  // namespace

std::string format_ns(double ns, double magnitude) {
  if (magnitude >= 1e6) return format_significant(ns / 1e6) + " ms";
  if (magnitude >= 1e3) return format_significant(ns / 1e3) + " µs";
  return format_significant(ns) + " ns";
}

std::string format_text(const BenchReport& report) {
  std::string out = fmt::format("hyperlet bench {}: {} runs per baseline after {} warm-up, interleaved round-robin\n",
                                report.benchmark, report.runs, report.warmup);
  if (!report.what.empty()) out += fmt::format("each sample: {}\n", report.what);
  const double magnitude = display_magnitude(report);
  const BaselineResult* reference = find_baseline(report, report.reference);
  const double reference_median = reference ? summarize(reference->samples).median : 0;
  std::size_t name_width = 8;
  for (const BaselineResult& baseline : report.baselines) name_width = std::max(name_width, baseline.name.size());
  out += fmt::format("{:<{}}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>7}  {}\n", "baseline", name_width, "median",
                     "p90", "p99", "min", "max", reference ? "ratio" : "", reference ? "guest pages touched" : "");
  for (const BaselineResult& baseline : report.baselines) {
    const Summary s = summarize(baseline.samples);
    const std::string ratio_text = reference ? fmt::format("{:.2f}", ratio(s.median, reference_median)) : "";
    const std::string pages =
        baseline.guest_pages_touched ? fmt::format("{}", *baseline.guest_pages_touched) : std::string{};
    out += fmt::format("{:<{}}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>7}  {}\n", baseline.name, name_width,
                       format_value(s.median, magnitude, report.unit), format_value(s.p90, magnitude, report.unit),
                       format_value(s.p99, magnitude, report.unit), format_value(s.min, magnitude, report.unit),
                       format_value(s.max, magnitude, report.unit), ratio_text, pages);
  }
  if (reference) out += fmt::format("ratio: median / median of {}\n", report.reference);
  for (const BaselineResult& baseline : report.baselines) {
    out += fmt::format("  {}: {}\n", baseline.name, baseline.command);
  }
  append_skipped_and_notes(out, report.skipped, report.notes);
  return out;
}

nlohmann::json to_json(const BenchReport& report) {
  nlohmann::json json = {
      {"benchmark", report.benchmark}, {"command", report.command_line},
      {"unit", report.unit},           {"sample", report.what},
      {"runs", report.runs},           {"warmup", report.warmup},
      {"reference", report.reference}, {"machine", report.machine},
      {"notes", report.notes},
  };
  const BaselineResult* reference = find_baseline(report, report.reference);
  const double reference_median = reference ? summarize(reference->samples).median : 0;
  json["baselines"] = nlohmann::json::array();
  for (const BaselineResult& baseline : report.baselines) {
    const Summary s = summarize(baseline.samples);
    nlohmann::json entry = {
        {"name", baseline.name}, {"command", baseline.command},
        {"count", s.count},      {"median", s.median},
        {"p90", s.p90},          {"p99", s.p99},
        {"min", s.min},          {"max", s.max},
        {"mean", s.mean},        {"p25", s.p25},
        {"p75", s.p75},          {"samples", baseline.samples},
    };
    if (reference) entry["ratio_to_reference"] = ratio(s.median, reference_median);
    entry["guest_pages_touched"] =
        baseline.guest_pages_touched ? nlohmann::json(*baseline.guest_pages_touched) : nlohmann::json(nullptr);
    json["baselines"].push_back(std::move(entry));
  }
  json["skipped"] = nlohmann::json::array();
  for (const SkippedBaseline& skip : report.skipped) {
    json["skipped"].push_back({{"name", skip.name}, {"reason", skip.reason}});
  }
  return json;
}

std::string to_csv(const BenchReport& report) {
  std::string out = "benchmark,baseline,run,value,unit\n";
  for (const BaselineResult& baseline : report.baselines) {
    for (std::size_t run = 0; run < baseline.samples.size(); ++run) {
      out += fmt::format("{},{},{},{},{}\n", csv_field(report.benchmark), csv_field(baseline.name), run + 1,
                         baseline.samples[run], report.unit);
    }
  }
  return out;
}

double start_rate_per_second(const DensityMode& mode) {
  return mode.all_idle_ms > 0 ? static_cast<double>(mode.vms.size()) * 1000.0 / mode.all_idle_ms : 0;
}

namespace {

std::vector<double> pss_values(const DensityMode& mode) {
  std::vector<double> values;
  for (const DensityVm& vm : mode.vms) values.push_back(static_cast<double>(vm.pss_kib));
  return values;
}

std::uint64_t total_pss_kib(const DensityMode& mode) {
  std::uint64_t total = 0;
  for (const DensityVm& vm : mode.vms) total += vm.pss_kib;
  return total;
}

// Per VM restored from a snapshot: PSS beyond the guest pages it wrote itself.
std::vector<double> written_values(const DensityMode& mode) {
  std::vector<double> values;
  for (const DensityVm& vm : mode.vms) {
    if (vm.guest_written_kib) values.push_back(static_cast<double>(*vm.guest_written_kib));
  }
  return values;
}

std::vector<double> pss_beyond_written_values(const DensityMode& mode) {
  std::vector<double> values;
  for (const DensityVm& vm : mode.vms) {
    if (vm.guest_written_kib) {
      values.push_back(static_cast<double>(vm.pss_kib) - static_cast<double>(*vm.guest_written_kib));
    }
  }
  return values;
}

double used_while_idle_per_vm_kib(const DensityMode& mode) {
  return mode.vms.empty()
             ? 0.0
             : static_cast<double>(mode.host_memory_used_while_idle_kib) / static_cast<double>(mode.vms.size());
}

std::uint64_t total_fds(const DensityMode& mode) {
  std::uint64_t total = 0;
  for (const DensityVm& vm : mode.vms) total += vm.fds;
  return total;
}

}  // namespace

std::string format_text(const DensityReport& report) {
  std::string out = fmt::format("hyperlet bench density: {} idle microVMs at once, per mode\n", report.vm_count);
  out += fmt::format("{:<9}  {:>12}  {:>12}  {:>12}  {:>12}  {:>11}  {:>9}  {:>9}  {}\n", "mode", "PSS/VM med",
                     "PSS/VM max", "PSS total", "start rate", "all idle", "fds/VM", "fds all", "after stopping");
  for (const DensityMode& mode : report.modes) {
    const Summary pss = summarize(pss_values(mode));
    const std::uint64_t fds = total_fds(mode);
    const std::string after = fmt::format("{} left running, bench fds {} → {}, MemAvailable {:+} KiB after {:.0f} ms",
                                          mode.leftover_processes, mode.bench_fds_before, mode.bench_fds_after,
                                          mode.host_memory_available_delta_kib, mode.memory_settle_ms);
    out += fmt::format(
        "{:<9}  {:>8.0f} KiB  {:>8.0f} KiB  {:>8.1f} MiB  {:>8.0f} /s  {:>8.1f} ms  {:>9.1f}  {:>9}  {}\n", mode.name,
        pss.median, pss.max, static_cast<double>(total_pss_kib(mode)) / 1024.0, start_rate_per_second(mode),
        mode.all_idle_ms, mode.vms.empty() ? 0.0 : static_cast<double>(fds) / static_cast<double>(mode.vms.size()), fds,
        after);
  }
  for (const DensityMode& mode : report.modes) {
    out += fmt::format("  {}: MemAvailable {:.1f} MiB lower while all were idle ({:.0f} KiB per VM)", mode.name,
                       static_cast<double>(mode.host_memory_used_while_idle_kib) / 1024.0,
                       used_while_idle_per_vm_kib(mode));
    if (const std::vector<double> written = written_values(mode); !written.empty()) {
      const Summary beyond = summarize(pss_beyond_written_values(mode));
      out += fmt::format(
          "; guest pages each VM wrote: {:.0f} KiB median, {:.0f} max; PSS beyond them: {:.0f} KiB median, "
          "{:.0f} max",
          summarize(written).median, summarize(written).max, beyond.median, beyond.max);
    }
    out += "\n";
  }
  for (const DensityMode& mode : report.modes) out += fmt::format("  {}: {}\n", mode.name, mode.command);
  append_skipped_and_notes(out, report.skipped, report.notes);
  return out;
}

nlohmann::json to_json(const DensityReport& report) {
  nlohmann::json json = {{"benchmark", "density"},
                         {"command", report.command_line},
                         {"vm_count", report.vm_count},
                         {"machine", report.machine},
                         {"notes", report.notes}};
  json["modes"] = nlohmann::json::array();
  for (const DensityMode& mode : report.modes) {
    const Summary pss = summarize(pss_values(mode));
    nlohmann::json vms = nlohmann::json::array();
    for (const DensityVm& vm : mode.vms) {
      nlohmann::json one = {{"pid", vm.pid}, {"start_ms", vm.start_ms}, {"pss_kib", vm.pss_kib}, {"fds", vm.fds}};
      if (vm.guest_written_kib) one["guest_written_kib"] = *vm.guest_written_kib;
      vms.push_back(std::move(one));
    }
    json["modes"].push_back({
        {"name", mode.name},
        {"command", mode.command},
        {"vms", std::move(vms)},
        {"pss_kib_per_vm", {{"median", pss.median}, {"p90", pss.p90}, {"min", pss.min}, {"max", pss.max}}},
        {"pss_kib_total", total_pss_kib(mode)},
        {"fds_total", total_fds(mode)},
        {"all_idle_ms", mode.all_idle_ms},
        {"start_rate_per_s", start_rate_per_second(mode)},
        {"stop_ms", mode.stop_ms},
        {"leftover_processes", mode.leftover_processes},
        {"bench_fds_before", mode.bench_fds_before},
        {"bench_fds_after", mode.bench_fds_after},
        {"mem_available_delta_kib", mode.host_memory_available_delta_kib},
        {"memory_settle_ms", mode.memory_settle_ms},
        {"mem_available_used_while_idle_kib", mode.host_memory_used_while_idle_kib},
    });
    if (const std::vector<double> written = written_values(mode); !written.empty()) {
      const Summary summary = summarize(written);
      const Summary beyond = summarize(pss_beyond_written_values(mode));
      json["modes"].back()["guest_written_kib_per_vm"] = {
          {"median", summary.median}, {"p90", summary.p90}, {"min", summary.min}, {"max", summary.max}};
      json["modes"].back()["pss_beyond_written_kib_per_vm"] = {
          {"median", beyond.median}, {"p90", beyond.p90}, {"min", beyond.min}, {"max", beyond.max}};
    }
  }
  json["skipped"] = nlohmann::json::array();
  for (const SkippedBaseline& skip : report.skipped) {
    json["skipped"].push_back({{"name", skip.name}, {"reason", skip.reason}});
  }
  return json;
}

std::string to_csv(const DensityReport& report) {
  std::string out = "mode,vm,pid,start_ms,pss_kib,fds,guest_written_kib\n";
  for (const DensityMode& mode : report.modes) {
    for (std::size_t i = 0; i < mode.vms.size(); ++i) {
      const DensityVm& vm = mode.vms[i];
      out += fmt::format("{},{},{},{:.3f},{},{},{}\n", csv_field(mode.name), i + 1, vm.pid, vm.start_ms, vm.pss_kib,
                         vm.fds, vm.guest_written_kib ? std::to_string(*vm.guest_written_kib) : "");
    }
  }
  return out;
}

}  // namespace hyperlet::bench
