#include "snapshot/checked_snapshots.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <ctime>
#include <system_error>

namespace hyperlet::snapshot {
namespace {

std::uint64_t nanoseconds(const timespec& time) {
  return static_cast<std::uint64_t>(time.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(time.tv_nsec);
}

}  // namespace

std::optional<std::filesystem::path> CheckedSnapshots::entry_path(const struct stat& identity,
                                                                  std::uint64_t pages_checksum) const {
  if (!directory_) return std::nullopt;
  return *directory_ / fmt::format("{:x}-{:x}-{:x}-{:x}-{:x}-{:016x}", identity.st_dev, identity.st_ino,
                                   identity.st_size, nanoseconds(identity.st_mtim), nanoseconds(identity.st_ctim),
                                   pages_checksum);
}

bool CheckedSnapshots::contains(const struct stat& identity, std::uint64_t pages_checksum) const {
  const auto path = entry_path(identity, pages_checksum);
  struct stat entry {};
  return path && ::stat(path->c_str(), &entry) == 0 && S_ISREG(entry.st_mode);
}

void CheckedSnapshots::add(const struct stat& identity, std::uint64_t pages_checksum) const {
  const auto path = entry_path(identity, pages_checksum);
  if (!path) return;
  timespec clock{};
  ::clock_gettime(CLOCK_REALTIME, &clock);
  const std::uint64_t now = nanoseconds(clock), changed = nanoseconds(identity.st_ctim);
  if (now < changed || now - changed < static_cast<std::uint64_t>(settle_.count())) return;  // may change unseen
  std::error_code error;
  std::filesystem::create_directories(*directory_, error);
  const int fd = ::open(path->c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) ::close(fd);
}

}  // namespace hyperlet::snapshot
