// A container's state under --root: one directory per id holding state.json
// (written atomically: a temporary file, then rename) and, between create and
// start, exec.fifo, on which the container's process waits (as runc's does).
// The status is never stored: it is read from the fifo, the process and the
// cgroup's freezer, so a VM that ended, or a pid that was reused, is seen as
// stopped, and a frozen one as paused.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "runc/cgroups.h"

namespace hyperlet::runc {

inline constexpr char kDefaultRoot[] = "/run/hyperlet-runc";
inline constexpr char kOciVersion[] = "1.0.2";

struct ContainerState {
  std::string id;
  int pid = 0;
  std::uint64_t pid_start_time = 0;  // /proc/PID/stat field 22: tells a reused pid apart
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339, UTC
  nlohmann::json annotations = nlohmann::json::object();
  // The container's cgroup (runc/cgroups.h): 0 when it has none, else 1 or 2, and its directories.
  int cgroup_version = 0;
  std::vector<std::string> cgroup_directories;
};

enum class Status { kCreated, kRunning, kPaused, kStopped };
const char* status_name(Status status);

// An id names a directory: letters, digits and "_+-." only, not "." or "..".
Result<void> check_container_id(const std::string& id);

std::string container_dir(const std::string& root, const std::string& id);
std::string exec_fifo_path(const std::string& root, const std::string& id);

Result<void> write_state(const std::string& root, const ContainerState& state);
Result<ContainerState> read_state(const std::string& root, const std::string& id);
std::vector<std::string> container_ids(const std::string& root);

// A pid's start time, 0 when it does not exist or is a zombie (it has ended).
std::uint64_t process_start_time(int pid);
Status container_status(const std::string& root, const ContainerState& state);

// The container's cgroup as state.json records it (none: no directories).
ContainerCgroup state_cgroup(const ContainerState& state);

// The runtime-spec's state JSON (`state`, `list --format json`).
nlohmann::json state_json(const ContainerState& state, Status status);

// Writes text to path atomically (a temporary file beside it, then rename).
Result<void> write_file_atomically(const std::string& path, const std::string& text);

}  // namespace hyperlet::runc
