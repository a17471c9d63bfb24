// hyperlet-runc's commands, as containerd's io.containerd.runc.v2 shim and
// podman's conmon call runc: create, start, state, kill, delete, list, ps,
// pause, resume, update.
// The container's process is the microVM's host process: `create` forks it,
// it enters the pod's network namespace, applies rlimits, takes the terminal,
// then waits on exec.fifo until `start` reads it and execs `hyperlet run`.
// So the pid the caller waits for, signals and reads the exit status of is
// hyperlet itself: SIGTERM stops the app (143), SIGKILL ends the VM.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "oci/cgroup_resources.h"
#include "runc/container_state.h"

namespace hyperlet::runc {

struct GlobalOptions {
  std::string root = kDefaultRoot;
  bool systemd_cgroup = false;  // linux.cgroupsPath is slice:prefix:name
  // Notes (fields ignored, and why) go here as well as errors.
  std::vector<std::string>* notes = nullptr;
};

struct CreateOptions {
  std::string id;
  std::string bundle;  // default: the current directory
  std::string pid_file;
  std::string console_socket;
};

Result<void> create_container(const GlobalOptions& global, const CreateOptions& options);
Result<void> start_container(const GlobalOptions& global, const std::string& id);
Result<nlohmann::json> container_state_json(const GlobalOptions& global, const std::string& id);
Result<void> kill_container(const GlobalOptions& global, const std::string& id, const std::string& signal_text);
Result<void> delete_container(const GlobalOptions& global, const std::string& id, bool force);
nlohmann::json list_containers(const GlobalOptions& global);
Result<std::vector<int>> container_processes(const GlobalOptions& global, const std::string& id);
// Freezes (pause) or thaws (resume) the container's cgroup: the VM's vCPUs stop where they are.
Result<void> pause_container(const GlobalOptions& global, const std::string& id, bool pause);
// Writes new limits to the container's cgroup (`update`).
Result<void> update_container(const GlobalOptions& global, const std::string& id,
                              const oci::CgroupResources& resources);

// "TERM", "SIGTERM", "15" → 15; anything else an error naming it.
Result<int> parse_signal(const std::string& text);

// What `features` prints (runtime-spec features.md).
nlohmann::json runtime_features();

}  // namespace hyperlet::runc
