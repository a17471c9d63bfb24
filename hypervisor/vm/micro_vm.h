// One microVM running one app: builds the VM, loads the kernel and the app,
// runs the vCPU and serves hypercalls until the app exits or fails.
#pragma once

#include <array>
#include <memory>

#include "core/error.h"
#include "vm/run_options.h"
#include "vm/run_stats.h"

namespace hyperlet {

// The app's exit status, or the Error that ended the run. `stats` is filled either way.
Result<int> run_microvm(const RunOptions& options, RunStats& stats);

namespace snapshot {
class File;
}

// A microVM restored from a snapshot and kept: run, reset to the snapshot, run
// again (the engine of include/hyperlet/host.h). `options`: volumes, network
// policy, trace, stats; `console_fds`: the host fds of the app's stdin, stdout,
// stderr. `file` must have had prepare_reset().
class ReusableVm {
 public:
  static Result<std::unique_ptr<ReusableVm>> restore(std::shared_ptr<const snapshot::File> file, RunOptions options,
                                                     std::array<int, 3> console_fds);
  virtual ~ReusableVm() = default;
  virtual Result<int> run() = 0;
  virtual Result<void> reset() = 0;
  virtual const RunStats& stats() const = 0;
};

}  // namespace hyperlet
