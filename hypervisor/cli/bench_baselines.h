// `hyperlet bench`: the ways of running the user's program once, each timed
// from spawning to reaping: natively, in a namespace container, in runc, the
// raw KVM floor, hyperlet cold and restored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/unique_fd.h"

namespace hyperlet::bench {

struct RunOutcome {
  std::uint64_t ns = 0;
  int status = 0;  // as a shell reports it: the exit code, or 128 + signal
};

class Baseline {
 public:
  Baseline(std::string name, std::string command);
  virtual ~Baseline() = default;
  const std::string& name() const { return name_; }
  const std::string& command() const { return command_; }
  // One run: stdin and stdout /dev/null, stderr kept for last_error_output().
  virtual Result<RunOutcome> run_once() = 0;
  // The last line the last run wrote to stderr (for a skip reason).
  std::string last_error_output() const;
  // For hyperlet baselines: the same command with --stats, run once.
  virtual std::optional<std::vector<std::string>> stats_command() const { return std::nullopt; }

 protected:
  // A memfd that each run's stderr goes to, emptied before each run.
  int error_output_fd() const { return error_output_.get(); }
  void reset_error_output() const;

 private:
  std::string name_;
  std::string command_;
  UniqueFd error_output_;
};

// A person-readable command line ("a b 'c d'").
std::string shell_words(const std::vector<std::string>& argv);

// The app run as it is.
std::unique_ptr<Baseline> native_baseline(const std::string& app, const std::vector<std::string>& arguments);
// The app as pid 1 of new user, pid, mount, ipc, uts (and, with `network`, net)
// namespaces, made by clone(2) with those flags, uid/gid 0 mapped to ours as
// `unshare -r` does, mounts made private as util-linux's unshare does.
std::unique_ptr<Baseline> unshare_baseline(const std::string& app, const std::vector<std::string>& arguments,
                                           bool network);
// runc run of an OCI bundle in `bundle_dir` (created here: config.json from
// `runc spec`, the app as the root file system's only file). Fails with the
// reason to skip it (no runc, …).
Result<std::unique_ptr<Baseline>> runc_baseline(const std::string& app, const std::vector<std::string>& arguments,
                                                const std::filesystem::path& bundle_dir);
// `hyperlet bench kvm-floor`: a process that creates a VM and vCPU and runs to
// the first exit; a process start like hyperlet's own.
std::unique_ptr<Baseline> kvm_floor_baseline(const std::string& hyperlet);
// `hyperlet run [run_options] APP ARGS`.
std::unique_ptr<Baseline> hyperlet_cold_baseline(const std::string& hyperlet,
                                                 const std::vector<std::string>& run_options, const std::string& app,
                                                 const std::vector<std::string>& arguments);
// `hyperlet run --restore FILE [run_options]`.
std::unique_ptr<Baseline> hyperlet_restored_baseline(const std::string& hyperlet, const std::string& snapshot,
                                                     const std::vector<std::string>& run_options);

// Runs argv once (stdin /dev/null), waits at most `timeout_ms`: status, stdout, stderr.
struct Captured {
  int status = -1;
  std::string out;
  std::string err;
};
Result<Captured> capture(const std::vector<std::string>& argv, int timeout_ms = 60'000);

// "guest pages touched: N" from `--stats` output.
std::optional<std::uint64_t> parse_guest_pages_touched(const std::string& stats_output);
// Whether `hyperlet run --help` offers --restore.
bool help_offers_restore(const std::string& run_help);
// Whether a failed run says --restore is unknown (status 125 naming it).
bool restore_refused(int status, const std::string& error_output);

// The absolute path of the running hyperlet (so the bench measures itself).
std::string own_executable();

}  // namespace hyperlet::bench
