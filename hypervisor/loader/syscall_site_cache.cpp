#include "loader/syscall_site_cache.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/checked_range.h"
#include "loader/syscall_sites.h"

namespace hyperlet {
namespace {

// "hlsites3": sites from the code map's control flow, Go's function table included
// (version 2 missed every site of a stripped Go program; version 1 was a linear sweep).
constexpr std::uint64_t kFormatMagic = 0x3373657469736c68ULL;

std::uint64_t nanoseconds(const timespec& time) {
  return static_cast<std::uint64_t>(time.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(time.tv_nsec);
}

}  // namespace

std::optional<std::filesystem::path> SyscallSiteCache::default_directory() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::filesystem::path(xdg) / "hyperlet" / "syscall-sites";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return std::filesystem::path(home) / ".cache" / "hyperlet" / "syscall-sites";
  }
  return std::nullopt;
}

std::optional<std::filesystem::path> SyscallSiteCache::entry_path(const struct stat& identity) const {
  if (!directory_) return std::nullopt;
  return *directory_ / fmt::format("{:x}-{:x}-{:x}-{:x}-{:x}.v3.sites", identity.st_dev, identity.st_ino,
                                   identity.st_size, nanoseconds(identity.st_mtim), nanoseconds(identity.st_ctim));
}

Result<SiteTable> SyscallSiteCache::sites(const struct stat& identity, const std::vector<CodeSegment>& code,
                                          const SiteAnalysis& analyse, bool& scanned) const {
  const auto path = entry_path(identity);
  if (path) {
    if (auto cached = load(*path, code)) {
      scanned = false;
      return *cached;
    }
  }
  scanned = true;
  auto table = analyse();
  if (!table) return std::unexpected(table.error());
  if (path) store(*path, *table);
  return table;
}

std::optional<SiteTable> SyscallSiteCache::load(const std::filesystem::path& path,
                                                const std::vector<CodeSegment>& code) const {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  auto read_word = [&](std::uint64_t& word) {
    return static_cast<bool>(in.read(reinterpret_cast<char*>(&word), sizeof(word)));
  };
  std::uint64_t magic = 0, range_count = 0;
  if (!read_word(magic) || magic != kFormatMagic || !read_word(range_count) || range_count != code.size()) {
    return std::nullopt;
  }
  SiteTable table(code.size());
  for (std::size_t r = 0; r < code.size(); ++r) {
    const auto bytes_of_segment = code[r].bytes;
    std::uint64_t count = 0;
    if (!read_word(count) || count > bytes_of_segment.size() / 2) return std::nullopt;
    table[r].resize(count);
    for (std::uint64_t& site : table[r]) {
      if (!read_word(site) || !range_fits(site, 2, bytes_of_segment.size())) return std::nullopt;
      const auto* bytes = reinterpret_cast<const unsigned char*>(bytes_of_segment.data() + site);
      if (bytes[0] != 0x0f || bytes[1] != 0x05) return std::nullopt;  // stale entry
    }
  }
  return table;
}

void SyscallSiteCache::store(const std::filesystem::path& path, const SiteTable& table) const {
  // Only *at() calls: an execve stores its image's sites under the host's
  // seccomp filter, which has mkdirat, renameat and unlinkat but not mkdir,
  // rename or unlink (vm/host_seccomp.h).
  std::filesystem::path made;
  for (const auto& part : path.parent_path()) {
    made /= part;
    if (::mkdirat(AT_FDCWD, made.c_str(), 0755) != 0 && errno != EEXIST) return;  // no cache is not an error
  }
  const auto temporary = path.string() + fmt::format(".{}.tmp", ::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return;
    auto write_word = [&](std::uint64_t word) { out.write(reinterpret_cast<const char*>(&word), sizeof(word)); };
    write_word(kFormatMagic);
    write_word(table.size());
    for (const auto& sites : table) {
      write_word(sites.size());
      for (std::uint64_t site : sites) write_word(site);
    }
    if (!out) {
      ::unlinkat(AT_FDCWD, temporary.c_str(), 0);
      return;
    }
  }
  if (::renameat(AT_FDCWD, temporary.c_str(), AT_FDCWD, path.c_str()) != 0) ::unlinkat(AT_FDCWD, temporary.c_str(), 0);
}

}  // namespace hyperlet
