// The container's cgroup on the host: made at `create`, the container's process
// (the VM's host process, and so the guest's memory and vCPU threads) moved into
// it before `start`, limits written from config.json, frozen by `pause`, changed
// by `update`, removed by `delete`. So an orchestrator's CPU and memory
// accounting, limits and OOM handling see the microVM as they see a container.
//
// cgroup v2 (one unified tree) and v1 (a tree per controller, as on hybrid
// hosts) are both written, as runc's cgroupfs driver writes them; with
// --systemd-cgroup the directories are made where systemd would put the scope
// (no D-Bus: hyperlet-runc talks to no systemd). The root of the cgroup
// filesystem is a parameter so that unit tests use a directory tree.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "oci/cgroup_resources.h"

namespace hyperlet::runc {

inline constexpr char kCgroupMount[] = "/sys/fs/cgroup";

enum class CgroupVersion { kNone, kV1, kV2 };

// kV2 when mount_root is the unified tree, kV1 when it holds controller trees
// (memory, cpu...), kNone when there is no cgroup filesystem to use.
CgroupVersion detect_cgroup_version(const std::string& mount_root);

// The calling process's own cgroup in the tree(s) that hold `controller` ("" for
// v2's unified tree), from /proc/self/cgroup's text.
std::string own_cgroup(const std::string& proc_self_cgroup, const std::string& controller);

class ContainerCgroup {
 public:
  // Makes the cgroup `relative_path` in every tree hyperlet-runc uses (see
  // cgroups.cpp); a relative_path that does not start with '/' is beneath the
  // caller's own cgroup in each v1 tree (proc_self_cgroup: /proc/self/cgroup).
  static Result<ContainerCgroup> create(CgroupVersion version, const std::string& mount_root,
                                        const std::string& relative_path, const std::string& proc_self_cgroup);
  // The cgroup of a container made earlier, from the directories state.json keeps.
  static ContainerCgroup open(CgroupVersion version, std::vector<std::string> directories);

  Result<void> apply(const oci::CgroupResources& resources) const;
  Result<void> add_process(pid_t pid) const;
  Result<void> set_frozen(bool frozen) const;
  bool frozen() const;
  std::vector<pid_t> processes() const;
  // Removes the directories (their processes must have ended); waits up to ~1 s
  // for the kernel to let go of a process that is still exiting.
  Result<void> remove() const;

  CgroupVersion version() const { return version_; }
  const std::vector<std::string>& directories() const { return directories_; }

 private:
  ContainerCgroup(CgroupVersion version, std::vector<std::string> directories)
      : version_(version), directories_(std::move(directories)) {}
  // The directory of `controller`'s tree (v1) or the one directory (v2); "" when absent.
  std::string directory_of(const std::string& controller) const;

  CgroupVersion version_;
  std::vector<std::string> directories_;
};

}  // namespace hyperlet::runc
