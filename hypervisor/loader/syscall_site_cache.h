// A per-user cache of each binary's syscall sites. The analysis (syscall_sites.h)
// costs tens of milliseconds for a static binary of a few MB, which would
// dominate boot; the cache makes every run after the first free.
// Entries are keyed by the file's identity (device, inode, size, mtime, ctime),
// and every cached site is re-checked against the code's bytes before use, so a
// stale or corrupted entry can cost a rescan but never a wrong rewrite. Entries
// of an older analysis (a linear sweep that took data for code) have another
// name and magic, so they are never read.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/error.h"
#include "loader/syscall_sites.h"

namespace hyperlet {

// Analyses the image's code (only on a cache miss): syscall_sites.h.
using SiteAnalysis = std::function<Result<SiteTable>()>;

class SyscallSiteCache {
 public:
  // $XDG_CACHE_HOME/hyperlet/syscall-sites, else ~/.cache/hyperlet/syscall-sites; none if neither.
  static std::optional<std::filesystem::path> default_directory();

  explicit SyscallSiteCache(std::optional<std::filesystem::path> directory) : directory_(std::move(directory)) {}

  // The sites of every code segment, from the cache when it holds a valid entry,
  // else from `analyse` (and then stored). `scanned` tells which happened.
  Result<SiteTable> sites(const struct stat& identity, const std::vector<CodeSegment>& code,
                          const SiteAnalysis& analyse, bool& scanned) const;

 private:
  std::optional<std::filesystem::path> entry_path(const struct stat& identity) const;
  std::optional<SiteTable> load(const std::filesystem::path& path, const std::vector<CodeSegment>& code) const;
  void store(const std::filesystem::path& path, const SiteTable& table) const;

  std::optional<std::filesystem::path> directory_;
};

}  // namespace hyperlet
