// The guest's file descriptors, kept on the host: one table for everything the
// app has open (console, volume files and directories, pipes). Guest fds are
// small ints handed out lowest-first like Linux; each maps to an open file that
// dup'd fds share (and with it the host fd's offset and status flags).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "devices/volumes.h"

namespace hyperlet {

struct SocketState;  // devices/sockets.h

// A host fd that stands for a file in one more epoll set (see OpenFile), counted
// while it is open: Linux's epoll costs an app no fds, so without a bound these
// would be host fds the guest's own limits never see.
class EpollDuplicate {
 public:
  EpollDuplicate(UniqueFd fd, std::shared_ptr<int> live) : fd_(std::move(fd)), live_(std::move(live)) { ++*live_; }
  EpollDuplicate(EpollDuplicate&& other) noexcept = default;
  EpollDuplicate& operator=(EpollDuplicate&& other) noexcept {
    if (this != &other) {
      release();
      fd_ = std::move(other.fd_);
      live_ = std::move(other.live_);
    }
    return *this;
  }
  ~EpollDuplicate() { release(); }
  int get() const { return fd_.get(); }

 private:
  void release() {
    if (live_) --*live_;
    live_.reset();
  }
  UniqueFd fd_;
  std::shared_ptr<int> live_;
};
struct EpollState;  // devices/readiness.cpp

struct OpenFile {
  int host_fd = -1;                // -1 for a directory above the volumes (kAncestor)
  UniqueFd owned;                  // empty for the console: hyperlet's own 0-2 are never closed
  std::string guest_path;          // normalised guest path, for *at() and fchdir; empty for console/pipes
  const Volume* volume = nullptr;  // the volume it was opened from, if any
  bool directory = false;
  // A directory above the volumes: its entries, and how far getdents64 got.
  std::vector<std::string> ancestor_entries;
  std::size_t ancestor_position = 0;
  // Set for the guest's sockets: what the network policy decided about it.
  std::shared_ptr<SocketState> socket;
  // Set for the guest's epoll instances: what each guest fd registered.
  std::shared_ptr<EpollState> epoll;
  // Extra host fds of this file, for a second guest fd of it in one epoll set
  // (the host kernel keys registrations by host fd); closed with the file, which
  // takes them out of their epoll sets as Linux does when the last fd goes.
  std::vector<EpollDuplicate> epoll_duplicates;
  // What a pipe end, eventfd, timerfd or signalfd was made as: a snapshot remakes it
  // (devices/fd_snapshot.h), and the host fd alone does not say.
  struct Anonymous {
    enum class Kind : std::uint8_t { kNone, kPipeRead, kPipeWrite, kEventfd, kTimerfd, kSignalfd };
    Kind kind = Kind::kNone;
    bool semaphore = false;     // eventfd: EFD_SEMAPHORE
    int clock = 0;              // timerfd: its clock
    std::shared_ptr<int> pipe;  // pipe ends: shared by the two ends of one pipe
  } anonymous;
  bool is_ancestor() const { return host_fd < 0; }
  bool in_read_only_volume() const { return volume != nullptr && volume->read_only; }
};

class FdTable {
 public:
  // Linux's RLIMIT_NOFILE as the guest kernel reports it.
  static constexpr int kLimit = 1024;

  // 0, 1, 2: hyperlet's stdin, stdout, stderr.
  FdTable();

  // The app's open fds (below kLimit), in order: what a snapshot keeps.
  std::vector<int> open_fds() const;
  // Puts `file` at `fd` (below kLimit), replacing what was there: a restore.
  void place(int fd, std::shared_ptr<OpenFile> file, bool cloexec);

  OpenFile* get(std::int64_t fd) const;
  std::shared_ptr<OpenFile> share(std::int64_t fd) const;
  // The lowest free fd >= minimum, or -EMFILE (-EINVAL for minimum >= kLimit).
  int add(std::shared_ptr<OpenFile> file, bool cloexec, int minimum = 0);
  // Both ends of a pipe or socket pair at the two lowest free fds, or neither
  // (-EMFILE, the table untouched) when fewer than two are free.
  std::expected<std::array<int, 2>, int> add_pair(std::array<std::shared_ptr<OpenFile>, 2> files, bool cloexec);
  // 0, or -EBADF.
  int close(std::int64_t fd);
  // execve: every close-on-exec fd closes.
  void close_on_exec();
  // dup2/dup3 semantics: `target` now refers to fd's file; returns target or -EBADF.
  int duplicate_to(std::int64_t fd, std::int64_t target, bool cloexec);
  bool cloexec(std::int64_t fd) const;
  void set_cloexec(std::int64_t fd, bool value);
  int open_count() const;
  // The fds whose file changed (added, closed, replaced, or marked) since the
  // last call: socket buffers (devices/socket_buffers.h) follow them.
  std::vector<int> take_changes();
  void mark_changed(std::int64_t fd);

 private:
  struct Entry {
    std::shared_ptr<OpenFile> file;
    bool cloexec = false;
  };
  std::vector<Entry> entries_;
  std::vector<int> changes_;
};

// The guest may hold FdTable::kLimit files (and its MAP_SHARED mappings one each) besides hyperlet's own: raise the
// host process's soft RLIMIT_NOFILE so that the guest's limit is the one it meets.
void raise_host_open_file_limit();

// Everything the file syscalls share: the fd table, the volumes, cwd, umask.
struct GuestFiles {
  // At most this many epoll duplicates live at once (ENOSPC beyond, as Linux
  // answers past max_user_watches): with the guest's 1024 fds, the app holds at
  // most about twice that many host fds.
  static constexpr int kMaxEpollDuplicates = FdTable::kLimit;
  FdTable fds;
  std::shared_ptr<int> epoll_duplicates_live = std::make_shared<int>(0);
  std::vector<Volume> volumes;
  std::string cwd = "/";
  mode_t umask = 022;
  // The host fds a restored app's console streams (stdin, stdout, stderr) are:
  // hyperlet's own, or the embedding program's choice (include/hyperlet/host.h).
  std::array<int, 3> console_fds = {0, 1, 2};
};

}  // namespace hyperlet
