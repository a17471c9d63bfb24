// A container's cgroup as its config.json asks for it: where it lives
// (linux.cgroupsPath) and the limits of linux.resources that a cgroup enforces
// (memory, CPU, pids). Pure, so every mapping is unit-tested; runc/cgroups.h
// makes the directories and writes the files. `update -r` reads the same JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace hyperlet::oci {

// Only what config.json gave: an absent field leaves the cgroup's value alone.
struct CgroupResources {
  std::optional<std::int64_t> memory_limit;        // bytes; -1: none
  std::optional<std::int64_t> memory_reservation;  // bytes; -1: none
  std::optional<std::int64_t> memory_swap;         // memory + swap, bytes; -1: none
  std::optional<std::uint64_t> cpu_shares;         // 2..262144 (cgroup v1's scale)
  std::optional<std::int64_t> cpu_quota;           // µs per period; -1 or 0: none
  std::optional<std::uint64_t> cpu_period;         // µs
  std::optional<std::string> cpuset_cpus;          // "0-3,6"
  std::optional<std::string> cpuset_mems;
  std::optional<std::int64_t> pids_limit;          // -1 or 0: none
  std::optional<std::uint64_t> memory_swappiness;  // cgroup v1 only
  std::vector<std::string> notes;                  // fields accepted without a file to write, and why

  bool empty() const;
};

// linux.resources (or what `update -r` reads); errors name the field. Fields a
// cgroup of hyperlet's cannot apply (devices, hugepage limits, blkio, rdma,
// network classes) are refused: nothing may be silently ignored.
Result<CgroupResources> parse_cgroup_resources(const nlohmann::json& resources);

// The guest memory a container with this cgroup memory limit gets: the limit
// less what hyperlet itself needs beside the guest's pages (kHostReserve), in the
// 2 MiB units guest memory is made of. nullopt when that leaves too little.
inline constexpr std::uint64_t kHostReserve = 8ull << 20;
std::optional<std::uint64_t> guest_memory_for_limit(std::uint64_t limit);

// The vCPUs a container's CPU limits allow: as many as its quota covers
// (rounded up), no more than its cpuset's CPUs and `host_cpus`, at least 1.
// nullopt when neither limits it (the image's manifest then decides).
std::optional<unsigned> vcpus_for(const CgroupResources& resources, unsigned host_cpus);

// "0-3,6" → 5; nullopt when malformed.
std::optional<unsigned> count_cpu_list(const std::string& list);

// cgroup v2's cpu.weight (1..10000) for v1's cpu.shares (2..262144), as runc converts it.
std::uint64_t cpu_weight_from_shares(std::uint64_t shares);

// Where the container's cgroup is, relative to each hierarchy's root, as runc
// reads linux.cgroupsPath: "/a/b" is that path; "a/b" (returned without a
// leading '/') is beneath the runtime's own cgroup in each tree; empty is the
// container id beneath it. With --systemd-cgroup the path is "slice:prefix:name",
// which systemd makes "/expanded/slice.slice/prefix-name.scope" (system.slice
// when the slice is empty; "a-b.slice" expands to "/a.slice/a-b.slice"); empty
// is system.slice:hyperlet-runc:ID.
Result<std::string> cgroup_path(const std::string& cgroups_path, const std::string& container_id, bool systemd);

}  // namespace hyperlet::oci
