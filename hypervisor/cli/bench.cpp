#include "cli/bench.h"

#include <fmt/format.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string_view>

#include "cli/bench_baselines.h"
#include "cli/bench_density.h"
#include "cli/bench_guests.h"
#include "cli/bench_plot.h"
#include "cli/bench_report.h"
#include "core/version.h"
#include "snapshot/snapshot_file.h"

namespace hyperlet::bench {

namespace {

constexpr int kNoRestoreStatus = 125;

int report_error(const Error& error) {
  std::fflush(stdout);
  fmt::print(stderr, "hyperlet: {}\n", error.message);
  return static_cast<int>(error.status);
}

// A temporary directory for bundles, guests and snapshots, removed at the end.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = fmt::format("{}/hyperlet-bench-XXXXXX", base && *base ? base : "/tmp");
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Progress on stderr: one rewritten line on a terminal, else a line per 10%.
class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)), terminal_(::isatty(2) == 1) {}
  void update(long done, long total) {
    if (total <= 0) return;
    if (terminal_) {
      fmt::print(stderr, "\r{}: {}/{} ", what_, done, total);
      if (done == total) fmt::print(stderr, "\n");
      return;
    }
    const long tenth = done * 10 / total;
    if (tenth != last_tenth_ && (tenth > 0 || done == total)) {
      fmt::print(stderr, "{}: {}/{}\n", what_, done, total);
      last_tenth_ = tenth;
    }
  }

 private:
  std::string what_;
  bool terminal_;
  long last_tenth_ = -1;
};

// How much of the CPUs other processes used while the bench ran: /proc/stat's
// busy time minus this process's and its reaped children's (a VM's teardown
// reaper is reparented away, so its short teardown counts as other use).
class CpuUse {
 public:
  CpuUse() : start_(now()) {}
  void record(nlohmann::json& machine) const {
    const Sample end = now();
    const double total = end.total_s - start_.total_s;
    if (total <= 0) return;
    const double other = (end.busy_s - start_.busy_s) - (end.own_s - start_.own_s);
    machine["other_cpu_share_during_run"] = std::clamp(other / total, 0.0, 1.0);
    machine["steal_share_during_run"] = (end.steal_s - start_.steal_s) / total;
  }

 private:
  struct Sample {
    double busy_s = 0;
    double steal_s = 0;
    double total_s = 0;
    double own_s = 0;
  };
  static Sample now() {
    Sample sample;
    std::ifstream stat("/proc/stat");
    std::string label;
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    stat >> label >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    sample.busy_s = (user + nice + system + irq + softirq) / tick;
    sample.steal_s = steal / tick;
    sample.total_s = (user + nice + system + idle + iowait + irq + softirq + steal) / tick;
    for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
      rusage usage{};
      ::getrusage(who, &usage);
      sample.own_s += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                      static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    }
    return sample;
  }
  Sample start_;
};

nlohmann::json machine_state(const std::string& hyperlet) {
  nlohmann::json machine;
  utsname name{};
  if (::uname(&name) == 0) machine["kernel"] = fmt::format("{} {}", name.sysname, name.release);
  machine["cpus_online"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) == 3) machine["loadavg"] = {load[0], load[1], load[2]};
  struct stat ignored {};
  machine["kvm_module"] = ::stat("/sys/module/kvm_pvm", &ignored) == 0     ? "kvm_pvm"
                          : ::stat("/sys/module/kvm_intel", &ignored) == 0 ? "kvm_intel"
                          : ::stat("/sys/module/kvm_amd", &ignored) == 0   ? "kvm_amd"
                                                                           : "unknown";
  machine["hyperlet"] = fmt::format("{} ({})", hyperlet, version_text());
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  machine["date"] = date;
  return machine;
}

std::string machine_line(const nlohmann::json& machine) {
  std::string load;
  if (machine.contains("loadavg")) {
    load = fmt::format(", load {:.2f} {:.2f} {:.2f}", machine["loadavg"][0].get<double>(),
                       machine["loadavg"][1].get<double>(), machine["loadavg"][2].get<double>());
  }
  std::string other;
  if (machine.contains("other_cpu_share_during_run")) {
    other = fmt::format(", other processes used {:.0f}% of the CPUs during the run (steal {:.0f}%)",
                        machine["other_cpu_share_during_run"].get<double>() * 100,
                        machine.value("steal_share_during_run", 0.0) * 100);
  }
  return fmt::format("machine: {}, {} CPUs, {}{} at start{}", machine.value("kernel", "?"),
                     machine.value("cpus_online", 0), machine.value("kvm_module", "?"), load, other);
}

Result<void> write_file(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) return fail(ExitStatus::kUsage, "cannot write {}", path);
  return {};
}

template <typename Report>
int emit(const Report& report, const BenchOptions& options) {
  fmt::print("{}{}\n", format_text(report), machine_line(report.machine));
  std::fflush(stdout);
  if (!options.json_path.empty()) {
    if (auto ok = write_file(options.json_path, to_json(report).dump(2) + "\n"); !ok) return report_error(ok.error());
  }
  if (!options.csv_path.empty()) {
    if (auto ok = write_file(options.csv_path, to_csv(report)); !ok) return report_error(ok.error());
  }
  if (!options.plot_path.empty()) {
    if (auto ok = write_file(options.plot_path, render_svg(plot_of(report))); !ok) return report_error(ok.error());
  }
  return 0;
}

std::string command_line_of(int argc, char** argv) {
  std::vector<std::string> words(argv, argv + argc);
  if (!words.empty()) words.front() = "hyperlet";
  return shell_words(words);
}

// The binary whose runs are measured (--hyperlet), this one by default. The raw
// KVM floor is always this binary's `bench kvm-floor`.
std::string measured_hyperlet(const BenchOptions& options) {
  return options.hyperlet.empty() ? own_executable() : options.hyperlet;
}

// `run --restore` takes the policy options but not --memory, --address-space
// or --env, which come from the snapshot.
std::vector<std::string> restore_run_options(const std::vector<std::string>& run_options) {
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < run_options.size(); ++i) {
    const std::string& word = run_options[i];
    if (word == "--memory" || word == "--address-space" || word == "--env") {
      ++i;  // and its value
      continue;
    }
    if (word.starts_with("--memory=") || word.starts_with("--address-space=") || word.starts_with("--env=")) continue;
    kept.push_back(word);
  }
  return kept;
}

bool restore_available(const std::string& hyperlet) {
  auto help = capture({hyperlet, "run", "--help"}, 10'000);
  return help && help_offers_restore(help->out + help->err);
}

// A snapshot of APP for the restored baselines; an error is the reason to skip them.
Result<std::string> make_snapshot(const std::string& hyperlet, const BenchOptions& options,
                                  const std::filesystem::path& directory,
                                  const std::vector<std::string>& more_run_options = {}) {
  const std::string file = (directory / "app.snapshot").string();
  // Every option before APP: whatever follows APP is the app's.
  std::vector<std::string> argv = {hyperlet, "snapshot", "-o", file};
  argv.insert(argv.end(), options.snapshot_options.begin(), options.snapshot_options.end());
  argv.insert(argv.end(), more_run_options.begin(), more_run_options.end());
  argv.insert(argv.end(), options.run_options.begin(), options.run_options.end());
  argv.insert(argv.end(), {options.app, "--"});
  argv.insert(argv.end(), options.arguments.begin(), options.arguments.end());
  auto made = capture(argv, 120'000);
  if (!made) return std::unexpected(made.error());
  if (made->status != 0) {
    std::string said = made->err;
    while (!said.empty() && said.back() == '\n') said.pop_back();
    return fail(ExitStatus::kUsage, "`{}` ended with {}: {}", shell_words(argv), made->status,
                said.substr(said.rfind('\n') == std::string::npos ? 0 : said.rfind('\n') + 1));
  }
  std::error_code ignored;
  if (!std::filesystem::exists(file, ignored)) {
    return fail(ExitStatus::kUsage,
                "`{}` ended with 0 but wrote no snapshot (the app never called hyperlet::ready(); for such a program "
                "name a syscall to snapshot at: --snapshot-option=--at-syscall=NAME)",
                shell_words(argv));
  }
  return file;
}

struct Measured {
  std::unique_ptr<Baseline> baseline;
  std::optional<int> expected_status;  // nullopt: whatever its first run gives
  std::vector<double> samples;
};

// Warm-up rounds (a baseline that fails there is skipped, with its reason),
// then `runs` timed rounds, round-robin; then one --stats run per hyperlet baseline.
// hyperlet leaves the VM's destruction to its teardown reaper, which goes on
// for ~0.5-1.5 ms after hyperlet exits. As a child subreaper this process
// inherits the reaper and waits (untimed) for it after each sample, so that
// the next baseline's sample does not share the CPUs with the previous one's
// teardown. hyperlet's own figure still ends at its exit, as a shell sees it.
void wait_for_orphans() {
  while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
}

Result<BenchReport> measure(BenchReport report, std::vector<Measured> baselines, const BenchOptions& options) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  Progress warming("warm-up rounds");
  for (int round = 0; round < options.warmup; ++round) {
    for (std::size_t index : round_robin_order(static_cast<std::size_t>(round), baselines.size())) {
      Measured& measured = baselines[index];
      if (!measured.baseline) continue;
      auto outcome = measured.baseline->run_once();
      wait_for_orphans();
      std::string problem;
      if (!outcome) {
        problem = outcome.error().message;
      } else if (measured.expected_status && outcome->status != *measured.expected_status) {
        const std::string said = measured.baseline->last_error_output();
        problem = fmt::format("ended with status {} (expected {}){}{}", outcome->status, *measured.expected_status,
                              said.empty() ? "" : ": ", said);
      } else {
        measured.expected_status = outcome->status;
      }
      if (!problem.empty()) {
        report.skipped.push_back({measured.baseline->name(), problem});
        measured.baseline.reset();
      }
    }
    warming.update(round + 1, options.warmup);
  }
  std::erase_if(baselines, [](const Measured& measured) { return !measured.baseline; });
  if (baselines.empty()) return fail(ExitStatus::kUsage, "bench: no baseline could run (see the skipped lines)");

  Progress timing("timed rounds");
  const CpuUse cpu_use;
  for (int round = 0; round < options.runs; ++round) {
    for (std::size_t index : round_robin_order(static_cast<std::size_t>(round), baselines.size())) {
      Measured& measured = baselines[index];
      auto outcome = measured.baseline->run_once();
      wait_for_orphans();
      if (!outcome) {
        return fail(ExitStatus::kUsage, "bench: {}: {}", measured.baseline->name(), outcome.error().message);
      }
      if (measured.expected_status && outcome->status != *measured.expected_status) {
        return fail(ExitStatus::kUsage, "bench: {} ended with status {} in round {} (expected {}): {}",
                    measured.baseline->name(), outcome->status, round + 1, *measured.expected_status,
                    measured.baseline->last_error_output());
      }
      measured.expected_status = outcome->status;
      measured.samples.push_back(static_cast<double>(outcome->ns));
    }
    timing.update(round + 1, options.runs);
  }
  cpu_use.record(report.machine);
  for (Measured& measured : baselines) {
    BaselineResult result{measured.baseline->name(), measured.baseline->command(), std::move(measured.samples), {}};
    if (auto stats_argv = measured.baseline->stats_command()) {
      if (auto stats = capture(*stats_argv, 60'000)) result.guest_pages_touched = parse_guest_pages_touched(stats->err);
    }
    report.baselines.push_back(std::move(result));
  }
  return report;
}

BenchReport new_report(const std::string& benchmark, const BenchOptions& options, const std::string& hyperlet, int argc,
                       char** argv) {
  BenchReport report;
  report.benchmark = benchmark;
  report.command_line = command_line_of(argc, argv);
  report.runs = options.runs;
  report.warmup = options.warmup;
  report.machine = machine_state(hyperlet);
  return report;
}

// The status every app baseline must end with: the native run's.
Result<int> native_status(const BenchOptions& options) {
  auto native = native_baseline(options.app, options.arguments);
  auto outcome = native->run_once();
  if (!outcome) return std::unexpected(outcome.error());
  return outcome->status;
}

int bench_processes(const std::string& benchmark, const BenchOptions& options, int argc, char** argv) {
  const std::string hyperlet = measured_hyperlet(options);
  BenchReport report = new_report(benchmark, options, hyperlet, argc, argv);
  report.unit = "ns";
  report.what = "wall time of one run, spawn to exit";
  TempDir temp;
  if (temp.path().empty()) return report_error(Error{ExitStatus::kUsage, "bench: cannot make a temporary directory"});
  const bool restore = restore_available(hyperlet);
  std::vector<Measured> baselines;

  if (benchmark == "restore") {
    if (!restore) {
      fmt::print(stderr,
                 "hyperlet: bench restore: this hyperlet has no `run --restore` (snapshots are not built yet)\n");
      return kNoRestoreStatus;
    }
    report.reference = "hyperlet restored";
    auto restored = hyperlet_restored_baseline(hyperlet, options.snapshot, restore_run_options(options.run_options));
    // --help may offer --restore before the run loop takes it: a first run that
    // ends with 125 naming --restore means the same.
    if (auto probe = restored->run_once(); probe && restore_refused(probe->status, restored->last_error_output())) {
      fmt::print(stderr, "hyperlet: bench restore: this hyperlet refuses `run --restore`: {}\n",
                 restored->last_error_output());
      return kNoRestoreStatus;
    }
    // A snapshot hyperlet refuses (damaged, another machine's...) is not a benchmark:
    // say why, with the status the restore ended with.
    if (auto probe = restored->run_once(); probe && probe->status >= 120 && probe->status <= 127 &&
                                           restored->last_error_output().find("hyperlet: ") != std::string::npos) {
      fmt::print(stderr, "hyperlet: bench restore: `hyperlet run --restore {}` fails: {}\n", options.snapshot,
                 restored->last_error_output());
      return probe->status;
    }
    baselines.push_back({kvm_floor_baseline(own_executable()), 0, {}});
    baselines.push_back({std::move(restored), {}, {}});
    auto measured = measure(std::move(report), std::move(baselines), options);
    if (!measured) return report_error(measured.error());
    return emit(*measured, options);
  }

  auto status = native_status(options);
  if (!status) return report_error(status.error());
  report.reference = "hyperlet cold";
  baselines.push_back({native_baseline(options.app, options.arguments), *status, {}});
  if (benchmark == "compare") {
    baselines.push_back({unshare_baseline(options.app, options.arguments, true), *status, {}});
    report.notes.push_back(
        "unshare container: clone(2) with CLONE_NEWUSER|NEWPID|NEWNS|NEWIPC|NEWUTS|NEWNET directly, not util-linux "
        "unshare(1), so that the figure is the namespaces' own cost and not also a second program's start and fork");
    auto runc = runc_baseline(options.app, options.arguments, temp.path() / "oci-bundle");
    if (runc) {
      baselines.push_back({std::move(*runc), *status, {}});
    } else {
      report.skipped.push_back({"runc container", runc.error().message});
    }
  }
  baselines.push_back({kvm_floor_baseline(own_executable()), 0, {}});
  baselines.push_back(
      {hyperlet_cold_baseline(hyperlet, options.run_options, options.app, options.arguments), *status, {}});
  if (benchmark == "compare") {
    if (!restore) {
      report.skipped.push_back({"hyperlet restored", "this hyperlet has no `run --restore` yet"});
    } else if (auto snapshot = make_snapshot(hyperlet, options, temp.path())) {
      baselines.push_back(
          {hyperlet_restored_baseline(hyperlet, *snapshot, restore_run_options(options.run_options)), *status, {}});
    } else {
      report.skipped.push_back({"hyperlet restored", snapshot.error().message});
    }
  }
  auto measured = measure(std::move(report), std::move(baselines), options);
  if (!measured) return report_error(measured.error());
  return emit(*measured, options);
}

int bench_hypercall(const BenchOptions& options, int argc, char** argv) {
  const std::string hyperlet = measured_hyperlet(options);
  BenchReport report = new_report("hypercall", options, hyperlet, argc, argv);
  report.unit = "ns";
  report.what = fmt::format("mean round trip over {} calls", options.calls);
  report.reference = "raw KVM exit (ring 3)";
  TempDir temp;
  if (temp.path().empty()) return report_error(Error{ExitStatus::kUsage, "bench: cannot make a temporary directory"});
  const std::string guest_path = (temp.path() / "hypercall-guest").string();
  const auto calls = static_cast<std::uint32_t>(options.calls);
  const std::vector<std::uint8_t> elf = hypercall_guest_elf(calls);
  if (auto ok = write_file(guest_path, std::string(elf.begin(), elf.end())); !ok) return report_error(ok.error());
  ::chmod(guest_path.c_str(), 0755);

  auto raw = RawKvmGuest::create(RawKvmGuest::exit_loop_code(), RawKvmGuest::Mode::kLongMode);
  if (!raw) return report_error(raw.error());
  auto raw_ring3 = RawKvmGuest::create(RawKvmGuest::exit_loop_code(), RawKvmGuest::Mode::kLongModeRing3);
  if (!raw_ring3) return report_error(raw_ring3.error());
  std::vector<std::string> vm_argv = {hyperlet, "run"};
  vm_argv.insert(vm_argv.end(), options.run_options.begin(), options.run_options.end());
  vm_argv.push_back(guest_path);

  BaselineResult raw_exit_ring3{"raw KVM exit (ring 3)",
                                "KVM_RUN of a 64-bit guest in ring 3 (IOPL 3) with paging looping on `out %al, "
                                "$0x10`, where the app runs (its own VM, in this process)",
                                {},
                                {}};
  BaselineResult raw_exit{
      "raw KVM exit (ring 0)", "the same in ring 0, where hyperlet's guest kernel makes its hypercalls", {}, {}};
  BaselineResult direct{"hyperlet direct syscall",
                        shell_words(vm_argv) +
                            ": fcntl(1, F_GETFD) from a site the loader rewrote into a direct syscall (one exit from "
                            "ring 3; where sites are not rewritten, the forwarded path)",
                        {},
                        {}};
  BaselineResult forwarded{
      "hyperlet forwarded syscall",
      shell_words(vm_argv) + ": fcntl(1, F_GETFD) through the guest kernel: trap, hypercall, return",
      {},
      {}};
  BaselineResult in_guest{"hyperlet in-guest syscall", shell_words(vm_argv) + ": getppid, trap only", {}, {}};
  BaselineResult native{"native syscall", guest_path + " natively: fcntl(1, F_GETFD)", {}, {}};

  auto raw_sample = [&](RawKvmGuest& guest) -> Result<double> {
    const auto start = std::chrono::steady_clock::now();
    for (std::uint32_t i = 0; i < calls; ++i) {
      if (auto ok = guest.run_to_port_write(); !ok) return std::unexpected(ok.error());
    }
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / calls;
  };
  auto guest_sample = [&](const std::vector<std::string>& command) -> Result<HypercallGuestTimes> {
    auto ran = capture(command, 120'000);
    if (!ran) return std::unexpected(ran.error());
    if (ran->status != 0) {
      return fail(ExitStatus::kUsage, "`{}` ended with {}: {}", shell_words(command), ran->status, ran->err);
    }
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(ran->out.data());
    return parse_hypercall_guest_output({bytes, ran->out.size()}, calls);
  };

  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  Progress progress("rounds (warm-up included)");
  const CpuUse cpu_use;
  const int rounds = options.warmup + options.runs;
  for (int round = 0; round < rounds; ++round) {
    const bool timed = round >= options.warmup;
    for (std::size_t which : round_robin_order(static_cast<std::size_t>(round), 4)) {
      if (which == 0 || which == 3) {
        auto sample = raw_sample(which == 0 ? *raw : *raw_ring3);
        if (!sample) return report_error(sample.error());
        if (timed) (which == 0 ? raw_exit : raw_exit_ring3).samples.push_back(*sample);
      } else if (which == 1) {
        auto times = guest_sample(vm_argv);
        wait_for_orphans();
        if (!times) return report_error(times.error());
        if (timed) {
          forwarded.samples.push_back(times->forwarded_ns);
          direct.samples.push_back(times->direct_ns);
          in_guest.samples.push_back(times->guest_answered_ns);
        }
      } else {
        auto times = guest_sample({guest_path});
        if (!times) return report_error(times.error());
        if (timed) native.samples.push_back(times->forwarded_ns);
      }
    }
    progress.update(round + 1, rounds);
  }
  cpu_use.record(report.machine);
  report.baselines = {std::move(raw_exit_ring3), std::move(raw_exit), std::move(direct),
                      std::move(forwarded),      std::move(in_guest), std::move(native)};
  report.notes.push_back(
      "an app's call to the host starts in ring 3, so its floor is the raw exit from ring 3; a direct syscall is "
      "that exit plus hyperlet's handling; the guest kernel forwards common I/O calls from a short assembly path, "
      "so forwarded and in-guest syscalls take different paths and their difference is not the hypercall's cost; "
      "hyperlet's syscalls are timed inside the guest (kvmclock = host CLOCK_MONOTONIC), the raw exits on the "
      "host");
  return emit(report, options);
}

// Where VMs restored from `path` have their guest memory (bench_density.h);
// nullopt for a snapshot without pages or one this build cannot read.
std::optional<SnapshotMapping> snapshot_mapping(const std::string& path) {
  auto file = snapshot::File::open(path, "");
  struct stat identity {};
  if (!file || file->contents().runs.empty() || ::stat(path.c_str(), &identity) != 0) return std::nullopt;
  return SnapshotMapping{identity.st_ino, file->pages_offset(),
                         file->contents().runs.front().first_page * snapshot::kPage, file->contents().memory_size};
}

int bench_density(const BenchOptions& options, int argc, char** argv) {
  const std::string hyperlet = measured_hyperlet(options);
  DensityReport report;
  report.command_line = command_line_of(argc, argv);
  report.vm_count = options.vm_count;
  report.machine = machine_state(hyperlet);
  std::vector<std::string> cold = {hyperlet, "run"};
  cold.insert(cold.end(), options.run_options.begin(), options.run_options.end());
  cold.insert(cold.end(), {options.app, "--"});
  cold.insert(cold.end(), options.arguments.begin(), options.arguments.end());

  std::function<std::vector<std::string>(int)> options_for_vm;
  std::vector<std::string> snapshot_publish;
  if (!options.publish_each.empty()) {
    auto each = parse_publish_each(options.publish_each, options.vm_count);
    if (!each) return report_error(each.error());
    options_for_vm = [each = *each](int vm) { return std::vector<std::string>{"--publish", each.rule_for(vm)}; };
    // The snapshot's run ends before any VM starts: it may use the first VM's port.
    snapshot_publish = options_for_vm(0);
  }

  TempDir temp;
  std::vector<DensityCommand> modes = {{"cold", cold, options_for_vm, std::nullopt}};
  if (!restore_available(hyperlet)) {
    report.skipped.push_back({"restored", "this hyperlet has no `run --restore` yet"});
  } else if (auto snapshot = make_snapshot(hyperlet, options, temp.path(), snapshot_publish)) {
    std::vector<std::string> restored = {hyperlet, "run", "--restore", *snapshot};
    const std::vector<std::string> restore_options = restore_run_options(options.run_options);
    restored.insert(restored.end(), restore_options.begin(), restore_options.end());
    modes.push_back({"restored", restored, options_for_vm, snapshot_mapping(*snapshot)});
  } else {
    report.skipped.push_back({"restored", snapshot.error().message});
  }
  const CpuUse cpu_use;
  for (const DensityCommand& command : modes) {
    Progress progress(fmt::format("{} VMs idle", command.name));
    auto mode = run_density(command, options.vm_count, [&](int idle, int count) { progress.update(idle, count); });
    if (!mode) return report_error(mode.error());
    report.modes.push_back(std::move(*mode));
  }
  cpu_use.record(report.machine);
  report.notes.push_back(
      "idle: hyperlet waits in the host for the app (read of its stdin, a sleep, poll/accept) and its teardown "
      "reaper exists; PSS from /proc/PID/smaps_rollup, the reaper's address space is hyperlet's (CLONE_VM, kcmp) "
      "and counted once");
  return emit(report, options);
}

// The options every bench subcommand has; `density` reports VMs, not samples.
void add_output_options(CLI::App& command, BenchOptions& options, bool density) {
  command
      .add_option("--hyperlet", options.hyperlet,
                  "The hyperlet binary whose runs are measured (default: this one), e.g. another build to compare")
      ->check(CLI::ExistingFile);
  if (!density) {
    command
        .add_option("--runs", options.runs,
                    "Timed rounds (default 30); each round takes one sample of every baseline, in an order that "
                    "rotates by one each round")
        ->check(CLI::Range(1, 100000));
    command
        .add_option("--warmup", options.warmup,
                    "Untimed rounds first (default 3); a baseline failing there is skipped with its reason")
        ->check(CLI::Range(0, 1000));
  }
  command.add_option("--json", options.json_path,
                     density ? "Also write the results as JSON: per mode every VM (pid, start_ms, pss_kib, fds), PSS "
                               "per VM (median, p90, min, max), totals, start rate, what was left after stopping"
                             : "Also write the results as JSON: per baseline its command, count, median, p90, p99, "
                               "min, max, mean, p25, p75, every sample, ratio to the reference, guest pages touched; "
                               "skipped baselines and why; the machine's state");
  command.add_option(
      "--csv", options.csv_path,
      density ? "Also write one CSV row per VM: mode,vm,pid,start_ms,pss_kib,fds,guest_written_kib (restored VMs)"
              : "Also write one CSV row per sample: benchmark,baseline,run,value,unit");
  command.add_option("--plot", options.plot_path,
                     density ? "Also draw each VM's PSS per mode as an SVG chart"
                             : "Also draw the distributions as an SVG chart: a row per baseline, a dot per run, box "
                               "p25-p75, median, whiskers min-max");
}

void add_snapshot_options(CLI::App& command, BenchOptions& options) {
  command
      .add_option("--snapshot-option", options.snapshot_options,
                  "An option for `hyperlet snapshot` only, e.g. --snapshot-option=--at-syscall=write for a program "
                  "that never calls hyperlet::ready() (repeatable)")
      ->allow_extra_args(false);
}

void add_app_arguments(CLI::App& command, BenchOptions& options) {
  command.add_option("APP", options.app, "The static x86-64 program to run")->required()->check(CLI::ExistingFile);
  command.add_option("ARGS", options.arguments, "The app's arguments (after --)");
  command
      .add_option("--run-option", options.run_options,
                  "An option for every `hyperlet run` (and snapshot), e.g. --run-option=--memory=64M (repeatable)")
      ->allow_extra_args(false);
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app) {
  return app.add_subcommand(
      "bench",
      "Measure hyperlet on your own program beside baselines from the same run: median, p90, p99, min/max, "
      "interleaved round-robin after warm-up rounds; results as a table, --json, --csv, --plot FILE.svg");
}

void add_bench_options(CLI::App* bench, BenchOptions& options, int argc, char** argv) {
  bench->require_subcommand(1);
  // What the raw KVM floor baseline runs: one VM, one exit, in a process of its
  // own, which builds no more of the command line than `hyperlet run` does.
  bench->add_subcommand("kvm-floor", "Create a VM and vCPU, run to the first exit, quit")->group("");
  if (argc >= 3 && std::string_view(argv[1]) == "bench" && std::string_view(argv[2]) == "kvm-floor") return;
  CLI::App* boot =
      bench->add_subcommand("boot", "Cold `hyperlet run APP` beside the native process and the raw KVM floor");
  add_app_arguments(*boot, options);
  add_output_options(*boot, options, /*density=*/false);
  CLI::App* restore = bench->add_subcommand(
      "restore",
      "`hyperlet run --restore FILE` beside the raw KVM floor (status 125 when this hyperlet cannot restore)");
  restore->add_option("FILE", options.snapshot, "A snapshot written by `hyperlet snapshot … -o FILE`")
      ->required()
      ->check(CLI::ExistingFile);
  restore->add_option("--run-option", options.run_options, "An option for every `hyperlet run --restore` (repeatable)")
      ->allow_extra_args(false);
  add_output_options(*restore, options, /*density=*/false);
  CLI::App* hypercall = bench->add_subcommand(
      "hypercall",
      "Host-call round trip (a guest making N trivial forwarded and in-guest syscalls) beside the raw "
      "KVM_EXIT_IO round trip from ring 3 (where the app runs) and from ring 0, same run");
  hypercall->add_option("--calls", options.calls, "Calls per sample (default 1000)")->check(CLI::Range(1, 10000000));
  hypercall->add_option("--run-option", options.run_options, "An option for every `hyperlet run` (repeatable)")
      ->allow_extra_args(false);
  add_output_options(*hypercall, options, /*density=*/false);
  CLI::App* density = bench->add_subcommand(
      "density",
      "Start N idle microVMs of APP at once (cold, and from a snapshot when restore exists): host memory "
      "per VM (PSS), total, start rate, fds held; then stop them all");
  density->add_option("N", options.vm_count, "How many VMs")->required()->check(CLI::Range(1, 100000));
  add_app_arguments(*density, options);
  add_output_options(*density, options, /*density=*/true);
  add_snapshot_options(*density, options);
  density
      ->add_option("--publish-each", options.publish_each,
                   "For a server app: [HOST_ADDR:]FIRST_HOST_PORT:GUEST_PORT[/tcp|/udp] publishes GUEST_PORT of VM i "
                   "(from 0) at FIRST_HOST_PORT + i, so that N copies can listen at once (the snapshot's run uses "
                   "the first port)")
      ->allow_extra_args(false);
  CLI::App* compare = bench->add_subcommand(
      "compare",
      "Everything at once, interleaved: native, unshare namespace container, runc container (when "
      "installed), raw KVM floor, hyperlet cold, hyperlet restored (when available)");
  add_app_arguments(*compare, options);
  add_output_options(*compare, options, /*density=*/false);
  add_snapshot_options(*compare, options);
}

int run_bench(const CLI::App& bench, const BenchOptions& options, int argc, char** argv) {
  if (bench.get_subcommands().empty()) return static_cast<int>(ExitStatus::kUsage);  // CLI11 said why
  const CLI::App* command = bench.get_subcommands().front();
  const std::string name = command->get_name();
  if (name == "kvm-floor") {
    auto ok = run_kvm_floor_once();
    return ok ? 0 : report_error(ok.error());
  }
  if (name == "hypercall") return bench_hypercall(options, argc, argv);
  if (name == "density") return bench_density(options, argc, argv);
  return bench_processes(name, options, argc, argv);
}

}  // namespace hyperlet::bench
