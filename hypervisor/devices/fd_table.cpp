#include "devices/fd_table.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace hyperlet {

FdTable::FdTable() : entries_(3) {
  for (int fd = 0; fd < 3; ++fd) {
    auto console = std::make_shared<OpenFile>();
    console->host_fd = fd;
    entries_[static_cast<std::size_t>(fd)].file = std::move(console);
  }
}

OpenFile* FdTable::get(std::int64_t fd) const {
  if (fd < 0 || fd >= static_cast<std::int64_t>(entries_.size())) return nullptr;
  return entries_[static_cast<std::size_t>(fd)].file.get();
}

std::shared_ptr<OpenFile> FdTable::share(std::int64_t fd) const {
  if (get(fd) == nullptr) return nullptr;
  return entries_[static_cast<std::size_t>(fd)].file;
}

int FdTable::add(std::shared_ptr<OpenFile> file, bool cloexec, int minimum) {
  if (minimum >= kLimit) return -EINVAL;  // as Linux past RLIMIT_NOFILE
  for (int fd = std::max(minimum, 0); fd < kLimit; ++fd) {
    const auto index = static_cast<std::size_t>(fd);
    if (index >= entries_.size()) entries_.resize(index + 1);
    if (entries_[index].file == nullptr) {
      entries_[index] = Entry{std::move(file), cloexec};
      changes_.push_back(fd);
      return fd;
    }
  }
  return -EMFILE;
}

std::expected<std::array<int, 2>, int> FdTable::add_pair(std::array<std::shared_ptr<OpenFile>, 2> files, bool cloexec) {
  std::array<int, 2> fds{};
  std::size_t found = 0;
  for (int fd = 0; fd < kLimit && found < fds.size(); ++fd) {
    const auto index = static_cast<std::size_t>(fd);
    if (index >= entries_.size() || entries_[index].file == nullptr) fds[found++] = fd;
  }
  if (found < fds.size()) return std::unexpected(-EMFILE);
  for (std::size_t i = 0; i < fds.size(); ++i) {
    const auto index = static_cast<std::size_t>(fds[i]);
    if (index >= entries_.size()) entries_.resize(index + 1);
    entries_[index] = Entry{std::move(files[i]), cloexec};
    changes_.push_back(fds[i]);
  }
  return fds;
}

int FdTable::close(std::int64_t fd) {
  if (get(fd) == nullptr) return -EBADF;
  entries_[static_cast<std::size_t>(fd)] = Entry{};
  changes_.push_back(static_cast<int>(fd));
  while (!entries_.empty() && entries_.back().file == nullptr) entries_.pop_back();
  return 0;
}

void FdTable::close_on_exec() {
  for (std::size_t fd = 0; fd < entries_.size(); ++fd) {
    if (entries_[fd].file != nullptr && entries_[fd].cloexec) close(static_cast<std::int64_t>(fd));
  }
}

int FdTable::duplicate_to(std::int64_t fd, std::int64_t target, bool cloexec) {
  if (get(fd) == nullptr || target < 0 || target >= kLimit) return -EBADF;
  const auto index = static_cast<std::size_t>(target);
  if (index >= entries_.size()) entries_.resize(index + 1);
  entries_[index] = Entry{entries_[static_cast<std::size_t>(fd)].file, cloexec};
  changes_.push_back(static_cast<int>(target));
  return static_cast<int>(target);
}

std::vector<int> FdTable::open_fds() const {
  std::vector<int> fds;
  for (std::size_t fd = 0; fd < entries_.size() && fd < static_cast<std::size_t>(kLimit); ++fd) {
    if (entries_[fd].file != nullptr) fds.push_back(static_cast<int>(fd));
  }
  return fds;
}

void FdTable::place(int fd, std::shared_ptr<OpenFile> file, bool cloexec) {
  if (fd < 0 || fd >= kLimit) return;
  const auto index = static_cast<std::size_t>(fd);
  if (index >= entries_.size()) entries_.resize(index + 1);
  entries_[index] = Entry{std::move(file), cloexec};
  changes_.push_back(fd);
  while (!entries_.empty() && entries_.back().file == nullptr) entries_.pop_back();
}

bool FdTable::cloexec(std::int64_t fd) const {
  return get(fd) != nullptr && entries_[static_cast<std::size_t>(fd)].cloexec;
}

void FdTable::set_cloexec(std::int64_t fd, bool value) {
  if (get(fd) != nullptr) entries_[static_cast<std::size_t>(fd)].cloexec = value;
}

std::vector<int> FdTable::take_changes() { return std::exchange(changes_, {}); }

void FdTable::mark_changed(std::int64_t fd) {
  if (get(fd) != nullptr) changes_.push_back(static_cast<int>(fd));
}

void raise_host_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = std::min<rlim_t>(limit.rlim_max, 4096);
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = wanted;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

int FdTable::open_count() const {
  int count = 0;
  for (const Entry& entry : entries_) count += entry.file != nullptr ? 1 : 0;
  return count;
}

}  // namespace hyperlet
