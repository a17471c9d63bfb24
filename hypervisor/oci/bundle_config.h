// A runtime-spec bundle's config.json as a `hyperlet run` command line: what
// hyperlet-runc's `create` executes once `start` is called. Pure (no files, no
// KVM), so every field's mapping and every refusal is unit-tested; the runtime
// itself (hypervisor/runc/) does what must happen in the container's process:
// entering the network namespace, rlimits, the terminal.
//
// Each field is applied, ignored for a reason written in docs/kubernetes.md (and in
// `notes`, which the runtime logs), or refused with one line naming it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "oci/cgroup_resources.h"

namespace hyperlet::oci {

struct ResourceLimit {
  int resource = 0;  // RLIMIT_*
  std::string name;  // as config.json spells it, for messages
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};

struct NetworkNamespace {
  enum class Kind { kHost, kNew, kPath } kind = Kind::kHost;
  std::string path;  // kPath: the namespace to setns into before hyperlet makes its first socket
};

struct BundleRun {
  std::string rootfs;  // the host directory root.path names, absolute
  bool rootfs_read_only = false;
  std::string app_guest_path;  // process.args[0] as a path inside rootfs
  // `hyperlet run`'s options and, after "--", APP's argv[1..]. APP itself (the
  // host path of app_guest_path, resolved beneath rootfs) goes between them.
  std::vector<std::string> options;
  std::vector<std::string> app_arguments;
  NetworkNamespace network;
  std::vector<ResourceLimit> rlimits;
  bool terminal = false;
  // linux.cgroupsPath as written (runc/cgroups.h makes it) and the limits it enforces.
  std::string cgroups_path;
  CgroupResources cgroup_resources;
  std::vector<std::string> notes;  // fields ignored, and why (for --log)
};

// What the mapping asks of the host's files (the runtime answers from the
// filesystem, unit tests from a table).
struct BundleFiles {
  // Where process.args[0] names no directory: the first PATH directory (from
  // process.env, else the usual default) in which this holds for the program.
  bool (*regular_file_in_rootfs)(const std::string& rootfs, const std::string& guest_path);
  bool (*is_directory)(const std::string& host_path);
  bool (*is_regular_file)(const std::string& host_path);
  // The CPUs hyperlet may give a VM here (a CPU limit asks for at most these).
  unsigned (*host_cpus)();
};

// config is config.json parsed; bundle_dir is absolute. A terminal needs a console socket.
Result<BundleRun> map_bundle_config(const nlohmann::json& config, const std::string& bundle_dir,
                                    bool have_console_socket, const BundleFiles& files);

// The annotation hyperlet-runc reads the published ports from, a comma-separated
// list of `hyperlet run --publish` rules (bind inside the pod's network
// namespace); kAllowConnectAnnotation likewise for --allow-connect. Both are
// empty by default: nothing is served or reached unless the annotation says so.
std::vector<std::string> split_annotation_list(const std::string& value);

}  // namespace hyperlet::oci
