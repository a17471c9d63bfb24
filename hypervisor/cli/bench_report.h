// `hyperlet bench`: what a benchmark found, and how it is printed (terminal
// table), saved (--json, --csv) and drawn (bench_plot.h). Pure functions of the
// data, unit-tested without KVM.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/bench_stats.h"

namespace hyperlet::bench {

// One baseline's samples, in `BenchReport::unit`.
struct BaselineResult {
  std::string name;     // "native", "unshare container", "hyperlet cold", …
  std::string command;  // what one sample runs, as a person would type it
  std::vector<double> samples;
  // From one untimed `hyperlet run --stats` (hyperlet baselines only).
  std::optional<std::uint64_t> guest_pages_touched;
};

// A baseline that could not be measured here, and why (runc not installed, …).
struct SkippedBaseline {
  std::string name;
  std::string reason;
};

struct BenchReport {
  std::string benchmark;     // "compare", "boot", "restore", "hypercall"
  std::string command_line;  // the hyperlet bench command that made it
  std::string unit = "ns";   // the samples' unit
  std::string what;          // what one sample is, e.g. "wall time of one run, spawn to exit"
  std::string reference;     // the baseline ratios are relative to ("" = none)
  int runs = 0;
  int warmup = 0;
  std::vector<BaselineResult> baselines;
  std::vector<SkippedBaseline> skipped;
  std::vector<std::string> notes;
  nlohmann::json machine;  // kernel, CPUs, load, … (machine_state())
};

// Three significant digits or more: 0.621, 6.69, 94.1, 145.
std::string format_significant(double value);
// A number of nanoseconds as a person reads it, with the unit that suits the
// reference magnitude: "6.69 ms", "94.1 µs", "812 ns".
std::string format_ns(double ns, double magnitude);

// The terminal table: median, p90, p99, min, max per baseline, the ratio of
// medians to the reference, guest pages touched, then skipped baselines and notes.
std::string format_text(const BenchReport& report);
nlohmann::json to_json(const BenchReport& report);
// One row per sample: benchmark,baseline,run,value,unit (for a spreadsheet or R).
std::string to_csv(const BenchReport& report);

// `bench density`: N idle VMs started at once, one mode each (cold, restored).
struct DensityVm {
  int pid = 0;
  double start_ms = 0;        // from spawning the first VM to this one being idle
  std::uint64_t pss_kib = 0;  // hyperlet + its teardown reaper, each address space once
  std::uint64_t fds = 0;      // open fds of hyperlet + its reaper
  // Private pages in the VM's guest memory: what the guest (or hyperlet for it)
  // wrote. Known for VMs restored from a snapshot, whose other pages are the file's.
  std::optional<std::uint64_t> guest_written_kib;
};

struct DensityMode {
  std::string name;     // "cold", "restored"
  std::string command;  // one VM's command
  std::vector<DensityVm> vms;
  double all_idle_ms = 0;                            // spawning the first to the last being idle
  double stop_ms = 0;                                // SIGTERM to all to the last reaped
  std::uint64_t leftover_processes = 0;              // hyperlet or reaper processes alive after stopping
  std::int64_t host_memory_available_delta_kib = 0;  // MemAvailable after stopping − before starting
  // MemAvailable before starting − while all were idle: also the kernel's part
  // (KVM, page tables, tasks), and whatever else the machine did meanwhile.
  std::int64_t host_memory_used_while_idle_kib = 0;
  double memory_settle_ms = 0;  // how long after stopping that was read (≤ 5 s, sooner once within 2 MiB)
  std::uint64_t bench_fds_before = 0;
  std::uint64_t bench_fds_after = 0;
};

struct DensityReport {
  std::string command_line;
  int vm_count = 0;
  std::vector<DensityMode> modes;
  std::vector<SkippedBaseline> skipped;
  std::vector<std::string> notes;
  nlohmann::json machine;
};

double start_rate_per_second(const DensityMode& mode);
std::string format_text(const DensityReport& report);
nlohmann::json to_json(const DensityReport& report);
// One row per VM: mode,vm,pid,start_ms,pss_kib,fds,guest_written_kib (empty when unknown).
std::string to_csv(const DensityReport& report);

}  // namespace hyperlet::bench
