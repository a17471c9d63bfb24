// The snapshot files whose guest pages were hashed and matched their checksum,
// kept as empty files in the per-user cache ($XDG_CACHE_HOME/hyperlet/
// checked-snapshots/), each named by the file's identity (device, inode, size,
// mtime, ctime) and the pages' checksum. `run --restore` hashes a snapshot's
// pages the first time only: every restore is a new process, and reading every
// page through a fresh mapping cost ~0.8 ms for the HTTP sample's 1.1 MiB on a
// nested host (docs/PERFORMANCE.md), growing with the snapshot.
//
// A write, a truncation or a replacement of the file changes its identity (a
// write moves ctime, which no user can set back), so its pages are hashed again.
// A file changed less than a second ago is not recorded: a file system stamps
// times from a clock that may tick only every few ms, so a write right after the
// check could leave the identity as it was (git's "racy clean" case). What is
// given up: damage under an unchanged identity (a failing disk) is not seen
// after the first check. The header, vCPU, host-state and page-run
// sections are read and checked at every restore whatever this says.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>

namespace hyperlet::snapshot {

class CheckedSnapshots {
 public:
  // `directory`: where the entries are (created when the first is added); none:
  // nothing is known, every restore hashes the pages. `settle`: how long ago a
  // file must have changed to be recorded (tests shorten it).
  explicit CheckedSnapshots(std::optional<std::filesystem::path> directory,
                            std::chrono::nanoseconds settle = std::chrono::seconds(1))
      : directory_(std::move(directory)), settle_(settle) {}

  // Whether the file with this identity had pages that matched `pages_checksum`.
  bool contains(const struct stat& identity, std::uint64_t pages_checksum) const;
  // Records that they did; best effort (a cache that cannot be written only costs a hash).
  void add(const struct stat& identity, std::uint64_t pages_checksum) const;

 private:
  std::optional<std::filesystem::path> entry_path(const struct stat& identity, std::uint64_t pages_checksum) const;

  std::optional<std::filesystem::path> directory_;
  std::chrono::nanoseconds settle_;
};

}  // namespace hyperlet::snapshot
