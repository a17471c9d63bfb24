// The host's side of a snapshotted app: its fd table (each kind written and made
// again by the device that owns it, devices/fd_snapshot.h), its working
// directory and umask. Restored under the restoring command line's policy.
#pragma once

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hyperlet {

class SyscallContext;

namespace snapshot {

// Every open fd of the app, or why the app cannot be snapshotted now (an fd
// kind that is not kept, memory shared with the host for socket buffers or the
// file ring).
Result<nlohmann::json> capture_files(const SyscallContext& context);

// The fd table, cwd and umask from `files` (what capture_files wrote).
Result<void> restore_files(SyscallContext& context, const nlohmann::json& files);

}  // namespace snapshot
}  // namespace hyperlet
