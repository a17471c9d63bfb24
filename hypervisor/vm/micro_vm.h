// One microVM running one app: builds the VM, loads the kernel and the app,
// runs the vCPU and serves hypercalls until the app exits or fails.
#pragma once

#include "core/error.h"
#include "vm/run_options.h"
#include "vm/run_stats.h"

namespace hyperlet {

// The app's exit status, or the Error that ended the run. `stats` is filled either way.
Result<int> run_microvm(const RunOptions& options, RunStats& stats);

}  // namespace hyperlet
