// `hyperlet bench density`: N idle microVMs at once, their host memory (PSS),
// fds and start rate, then all of them stopped and reaped.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli/bench_report.h"
#include "core/error.h"

namespace hyperlet::bench {

// `--publish-each [HOST_ADDR:]FIRST_HOST_PORT:GUEST_PORT[/tcp|/udp]`: a server
// app started N times needs N host ports, so VM i (from 0) gets the --publish
// rule with host port FIRST_HOST_PORT + i.
struct PublishEach {
  std::string before_host_port;  // "127.0.0.1:" or ""
  std::uint32_t first_host_port = 0;
  std::string after_host_port;  // ":8080", ":53/udp"
  // The --publish rule of VM `vm` (0 = the first, also the snapshot's).
  std::string rule_for(int vm) const;
};
// Checked with `--publish`'s own parser; the last VM's port must exist too.
Result<PublishEach> parse_publish_each(const std::string& text, int count);

// How to find a restored VM's guest memory in its hyperlet's /proc/PID/smaps:
// the snapshot file's first page run is mapped (rw-p, copy-on-write) at guest
// physical address `first_run_address`, and guest memory is `memory_size` long.
struct SnapshotMapping {
  std::uint64_t inode = 0;
  std::uint64_t pages_offset = 0;  // where in the file the first run's bytes are
  std::uint64_t first_run_address = 0;
  std::uint64_t memory_size = 0;
};
// The KiB of private (Anonymous) pages inside the VM's guest memory, from
// /proc/PID/smaps text: the pages the VM wrote, all else being the snapshot
// file's shared pages or untouched. nullopt when the mapping is not there.
std::optional<std::uint64_t> guest_written_kib(const std::string& smaps, const SnapshotMapping& snapshot);

// One mode of `bench density`: how each of its VMs is started.
struct DensityCommand {
  std::string name;               // "cold", "restored"
  std::vector<std::string> argv;  // a `hyperlet run …` command
  // Options of VM i (from 0), inserted after `run`: its own --publish.
  std::function<std::vector<std::string>(int vm)> options_for_vm;
  std::optional<SnapshotMapping> snapshot;  // for VMs restored from it: what they wrote
};

// Starts `count` copies of the command at once, stdin a pipe nobody writes to,
// waits until every one is idle, measures, stops them with SIGTERM and reaps
// them and their teardown reapers (this process becomes a child subreaper so
// that none escapes). `progress` is told how many are idle.
Result<DensityMode> run_density(const DensityCommand& command, int count,
                                const std::function<void(int idle, int count)>& progress);

// Whether a /proc/PID/syscall line shows a task blocked waiting for the app's
// input or time (read, poll, epoll_wait, accept, nanosleep, …), not KVM_RUN.
bool syscall_line_is_waiting(const std::string& line);
// "Pss:  4471 kB" from /proc/PID/smaps_rollup text; nullopt without one.
std::optional<std::uint64_t> parse_pss_kib(const std::string& smaps_rollup);

}  // namespace hyperlet::bench
