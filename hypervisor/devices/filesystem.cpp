// Files: the guest's fd table and the volumes granted with --volume.
//
// Every path is made absolute against the guest's cwd (or a directory fd's guest
// path), normalised, and looked up among the volumes (devices/volumes.h). Inside
// a volume it is resolved on the host beneath the volume's directory fd with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): "..", absolute symlinks and
// /proc magic links cannot leave the volume. Operations on a name (mkdir, unlink,
// rename, symlink, readlink, lstat) open the parent that way and act on one
// component. A path outside every volume is ENOENT; "/" and the directories
// leading to volumes are read-only and list only the way to the volumes. Writes
// to a :ro volume are refused here with EROFS. Bulk data moves between the host
// fd and the checked guest span directly (no bounce buffer).
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <expected>
#include <memory>
#include <vector>

#include "core/trace_output.h"
#include "devices/device_nodes.h"
#include "devices/executables.h"
#include "devices/fd_snapshot.h"
#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

template <typename T>
using Sys = std::expected<T, int>;  // a value or an errno

constexpr std::uint64_t kResolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
constexpr std::uint64_t kKernelLargefile = 0100000;  // O_LARGEFILE as the kernel spells it on x86-64
constexpr std::uint64_t kOpenFlags = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
                                     O_DSYNC | O_DIRECT | kKernelLargefile | O_DIRECTORY | O_NOFOLLOW | O_NOATIME |
                                     O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE;

std::int64_t result_of(ssize_t value) { return value < 0 ? -errno : value; }
// Linux takes fds (and AT_FDCWD) as int.
std::int64_t fd_argument(std::uint64_t value) { return static_cast<std::int32_t>(value); }
template <typename T>
std::int64_t error_of(const Sys<T>& failed) {
  return -failed.error();
}

// ---------------------------------------------------------------- paths

struct Target {
  std::string path;  // normalised guest path
  GuestLocation location;
  bool outside() const { return location.kind == GuestLocation::Kind::kOutside; }
  bool ancestor() const { return location.kind == GuestLocation::Kind::kAncestor; }
  bool in_volume() const { return location.kind == GuestLocation::Kind::kVolume; }
  bool read_only() const { return !in_volume() || location.volume->read_only; }
  bool volume_root() const { return in_volume() && location.relative.empty(); }
  bool trace = false;  // --trace: say why the host refuses to resolve it (open_beneath)
};

Sys<std::string> base_directory(const SyscallContext& context, std::int64_t dirfd) {
  if (dirfd == AT_FDCWD) return context.files.cwd;
  const OpenFile* file = context.files.fds.get(dirfd);
  if (file == nullptr) return std::unexpected(EBADF);
  if (file->guest_path.empty() || !file->directory) return std::unexpected(ENOTDIR);
  return file->guest_path;
}

// Runtimes read these to tune themselves and carry on without them (Go's runtime:
// the huge page size at start; Go's net.Listen: the listen backlog; glibc's
// get_nprocs and get_nprocs_conf, behind std::thread::hardware_concurrency, which
// then ask sched_getaffinity: the VM's vCPUs): a denial line on every run would be
// noise that hides a real one. --trace still shows them.
bool is_tuning_probe(std::string_view path) {
  return path.starts_with("/sys/kernel/mm/transparent_hugepage/") || path == "/proc/sys/net/core/somaxconn" ||
         path.starts_with("/sys/devices/system/cpu/") || path == "/proc/stat" || path == "/proc/cpuinfo";
}

Sys<Target> resolve_text(const SyscallContext& context, std::int64_t dirfd, const std::string& text) {
  if (text.empty()) return std::unexpected(ENOENT);
  std::string base = "/";
  if (!text.starts_with('/')) {
    auto dir = base_directory(context, dirfd);
    if (!dir) return std::unexpected(dir.error());
    base = std::move(*dir);
  }
  auto path = normalize_guest_path(base, text);
  if (!path) return std::unexpected(ENAMETOOLONG);
  Target target{std::move(*path), {}};
  target.location = locate(context.files.volumes, target.path);
  target.trace = context.trace;
  // The policy's answer is ENOENT, which says nothing about why: a line says it.
  if (target.outside() && !is_device_path(target.path) && (context.trace || !is_tuning_probe(target.path))) {
    // POSIX shared memory and named semaphores live in /dev/shm, which a run
    // has only as a volume (it is writable host storage): say so.
    const bool posix_shm = target.path.starts_with("/dev/shm/") || target.path == "/dev/shm";
    context.report_denial(
        fmt::format("{} is outside every --volume{}", target.path,
                    posix_shm ? " (shm_open and sem_open need one there: --volume DIR:/dev/shm)" : ""));
  }
  return target;
}

Sys<Target> resolve(const SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address) {
  auto text = context.user_path(path_address);
  if (!text) return std::unexpected(text.error());
  return resolve_text(context, dirfd, *text);
}

std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// The object an O_PATH fd refers to, opened for I/O with `flags`. Going through
// /proc/self/fd reopens that very inode, so nothing can be swapped in between
// the check and the open.
Sys<UniqueFd> reopen(int path_fd, std::uint64_t flags) {
  const int fd =
      ::open(proc_fd_path(path_fd).c_str(),
             static_cast<int>(flags & ~static_cast<std::uint64_t>(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno);
  return UniqueFd(fd);
}

// A file volume is the one inode opened at start: nothing lies below it (ENOTDIR,
// so no name can be made there either), and it is reopened, never looked up again.
Sys<UniqueFd> open_file_volume(const Volume& volume, const std::string& relative, std::uint64_t flags) {
  if (!relative.empty() || (flags & O_DIRECTORY) != 0) return std::unexpected(ENOTDIR);
  if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return std::unexpected(EEXIST);
  if ((flags & O_PATH) != 0) {
    const int fd = ::fcntl(volume.dir.get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(errno);
    return UniqueFd(fd);
  }
  return reopen(volume.dir.get(), flags);
}

// `relative` (the target's path below its volume, or a parent of it) opened beneath the
// target's volume.
Sys<UniqueFd> open_beneath(const Target& target, const std::string& relative, std::uint64_t flags, std::uint64_t mode) {
  const Volume& volume = *target.location.volume;
  if (volume.file) return open_file_volume(volume, relative, flags);
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = mode;
  how.resolve = kResolve;
  const long fd = ::syscall(SYS_openat2, volume.dir.get(), relative.empty() ? "." : relative.c_str(), &how, sizeof how);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  const int error = errno;
  if (error != EXDEV) return std::unexpected(error);
  // EXDEV: a symlink on the host (absolute, or with ".." above the volume) tried to
  // leave the volume. In the guest's view it leads nowhere, like a path outside every
  // volume; --trace says why, as for those.
  if (target.trace) {
    write_trace_line(fmt::format("[hyperlet policy] denied: {} leads out of --volume {} (through a symlink)",
                                 target.path, volume.guest_dir));
  }
  return std::unexpected(ENOENT);
}

// What a host *at() call acts on: `fd` itself (name empty), or `name` in directory `fd`.
struct HostObject {
  int fd = -1;
  UniqueFd owned;
  std::string name;
  const char* at_name() const { return name.empty() ? "" : name.c_str(); }
  int at_flags() const { return name.empty() ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW; }
};

// The object a volume path names. follow: through a final symlink (which must
// itself stay in the volume); otherwise the name in its parent directory.
Sys<HostObject> host_object(const Target& target, bool follow) {
  const Volume& volume = *target.location.volume;
  const std::string& relative = target.location.relative;
  HostObject object;
  if (relative.empty()) {
    object.fd = volume.dir.get();
    return object;
  }
  if (follow) {
    auto fd = open_beneath(target, relative, O_PATH, 0);
    if (!fd) return std::unexpected(fd.error());
    object.fd = fd->get();
    object.owned = std::move(*fd);
    return object;
  }
  const std::size_t slash = relative.rfind('/');
  auto parent =
      open_beneath(target, slash == std::string::npos ? "" : relative.substr(0, slash), O_PATH | O_DIRECTORY, 0);
  if (!parent) return std::unexpected(parent.error());
  object.fd = parent->get();
  object.owned = std::move(*parent);
  object.name = slash == std::string::npos ? relative : relative.substr(slash + 1);
  return object;
}

// The name a path-changing operation (mkdir, unlink, rename, symlink, link) acts on.
Sys<HostObject> name_to_change(const Target& target) {
  if (target.outside()) return std::unexpected(ENOENT);
  if (target.ancestor() || target.volume_root()) return std::unexpected(EBUSY);
  if (target.read_only()) return std::unexpected(EROFS);
  return host_object(target, false);
}

// Files the app may open for I/O: regular files and directories. Opening a
// device node or a FIFO runs its driver's open on the host (a FIFO's blocks
// hyperlet until a writer comes), so those are judged by an O_PATH fd, which
// opens nothing, and never reopened.
bool openable_for_io(mode_t mode) { return S_ISREG(mode) || S_ISDIR(mode); }

// A volume path opened for I/O (not O_PATH, not O_TMPFILE), creating it when
// asked: looked up by O_PATH, checked, then reopened; a name that does not exist
// is created with O_EXCL, so what is opened is always a new regular file.
Sys<UniqueFd> open_for_io(const Target& target, std::uint64_t flags, std::uint64_t mode, bool may_create) {
  const std::string& relative = target.location.relative;
  const std::uint64_t lookup = O_PATH | (flags & (O_NOFOLLOW | O_DIRECTORY));
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto existing = open_beneath(target, relative, lookup, 0);
    if (existing) {
      if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return std::unexpected(EEXIST);
      struct stat info {};
      if (::fstat(existing->get(), &info) != 0) return std::unexpected(errno);
      if (S_ISLNK(info.st_mode)) return std::unexpected(ELOOP);  // O_NOFOLLOW on a symlink, as Linux
      if (S_ISDIR(info.st_mode) && (flags & O_CREAT) != 0) return std::unexpected(EISDIR);
      if (!openable_for_io(info.st_mode)) {
        if (target.trace) {
          write_trace_line(
              fmt::format("[hyperlet policy] denied: {} is a device, FIFO or socket on the host", target.path));
        }
        return std::unexpected(EACCES);
      }
      return reopen(existing->get(), flags);
    }
    if (existing.error() != ENOENT || (flags & O_CREAT) == 0) return std::unexpected(existing.error());
    if (!may_create) return std::unexpected(EROFS);
    auto created = open_beneath(target, relative, flags | O_EXCL, mode);
    // EEXIST without the app's O_EXCL: someone made the name in between; look again.
    if (created || created.error() != EEXIST || (flags & O_EXCL) != 0) return created;
  }
  return std::unexpected(EEXIST);
}

// ---------------------------------------------------------------- directories above the volumes

struct stat ancestor_stat() {
  struct stat info {};
  info.st_mode = S_IFDIR | 0555;
  info.st_nlink = 2;
  info.st_ino = 1;
  info.st_blksize = 4096;
  return info;
}

struct statx ancestor_statx() {
  struct statx info {};
  info.stx_mask = STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_INO;
  info.stx_mode = S_IFDIR | 0555;
  info.stx_nlink = 2;
  info.stx_ino = 1;
  info.stx_blksize = 4096;
  return info;
}

std::int64_t ancestor_getdents(SyscallContext& context, OpenFile& file, std::uint64_t address, std::uint64_t count) {
  auto out = context.user_span(address, count);
  if (!out) return -EFAULT;
  std::size_t used = 0;
  const std::size_t total = file.ancestor_entries.size() + 2;
  while (file.ancestor_position < total) {
    const std::size_t index = file.ancestor_position;
    const std::string name = index == 0 ? "." : index == 1 ? ".." : file.ancestor_entries[index - 2];
    const std::size_t length = (19 + name.size() + 1 + 7) & ~std::size_t{7};
    if (used + length > out->size()) {
      if (used == 0) return -EINVAL;
      break;
    }
    std::byte* entry = out->data() + used;
    std::memset(entry, 0, length);
    const std::uint64_t inode = index + 1;
    const std::int64_t next = static_cast<std::int64_t>(index + 1);
    const auto record = static_cast<std::uint16_t>(length);
    // A file volume directly below is a file; everything else on the way to the volumes is a directory.
    const GuestLocation below =
        index < 2 ? GuestLocation{}
                  : locate(context.files.volumes, file.guest_path == "/" ? "/" + name : file.guest_path + "/" + name);
    const unsigned char type =
        below.volume != nullptr && below.volume->file && below.relative.empty() ? DT_REG : DT_DIR;
    std::memcpy(entry, &inode, 8);
    std::memcpy(entry + 8, &next, 8);
    std::memcpy(entry + 16, &record, 2);
    std::memcpy(entry + 18, &type, 1);
    std::memcpy(entry + 19, name.data(), name.size());
    used += length;
    ++file.ancestor_position;
  }
  return static_cast<std::int64_t>(used);
}

// ---------------------------------------------------------------- open, close, dup

std::int64_t open_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address, std::uint64_t flags,
                       std::uint64_t mode) {
  auto target = resolve(context, dirfd, path_address);
  if (!target) return error_of(target);
  flags &= kOpenFlags;
  const bool cloexec = (flags & O_CLOEXEC) != 0;
  const bool tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
  const bool creates = (flags & O_CREAT) != 0 || tmpfile;
  const bool writes = (flags & O_PATH) == 0 && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0);
  if (target->outside()) return open_device_path(context, target->path, flags).value_or(-ENOENT);
  auto file = std::make_shared<OpenFile>();
  file->guest_path = target->path;
  if (target->ancestor()) {
    if (writes || creates) return -EISDIR;
    file->directory = true;
    file->ancestor_entries = ancestor_entries(context.files.volumes, target->path);
    return context.files.fds.add(std::move(file), cloexec);
  }
  const Volume& volume = *target->location.volume;
  const std::uint64_t host_flags = flags & ~static_cast<std::uint64_t>(O_CLOEXEC);
  if (volume.read_only && (writes || tmpfile)) return -EROFS;
  const std::uint64_t host_mode = creates ? (mode & 07777 & ~static_cast<std::uint64_t>(context.files.umask)) : 0;
  // O_PATH opens nothing and O_TMPFILE makes a new regular file: both are safe
  // as they are. Everything else is checked before it is opened for I/O.
  auto fd = (flags & O_PATH) != 0 || tmpfile ? open_beneath(*target, target->location.relative, host_flags, host_mode)
                                             : open_for_io(*target, host_flags, host_mode, !volume.read_only);
  if (!fd) return error_of(fd);
  struct stat info {};
  if (::fstat(fd->get(), &info) != 0) return -errno;
  file->directory = S_ISDIR(info.st_mode);
  file->volume = &volume;
  file->host_fd = fd->get();
  file->owned = std::move(*fd);
  return context.files.fds.add(std::move(file), cloexec);
}

std::int64_t dup3(SyscallContext& context, std::int64_t fd, std::int64_t target, std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(O_CLOEXEC)) != 0) return -EINVAL;
  if (fd == target) return -EINVAL;
  return context.files.fds.duplicate_to(fd, target, (flags & O_CLOEXEC) != 0);
}

std::int64_t make_pipe(SyscallContext& context, std::uint64_t address, std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) != 0) return -EINVAL;
  auto out = context.user_span(address, 2 * sizeof(int));
  if (!out) return -EFAULT;
  int ends[2];
  if (::pipe2(ends, static_cast<int>(flags) | O_CLOEXEC) != 0) return -errno;
  std::array<std::shared_ptr<OpenFile>, 2> files;
  auto identity = std::make_shared<int>(0);
  for (std::size_t i = 0; i < files.size(); ++i) {
    files[i] = std::make_shared<OpenFile>();
    files[i]->host_fd = ends[i];
    files[i]->owned = UniqueFd(ends[i]);
    files[i]->anonymous.kind = i == 0 ? OpenFile::Anonymous::Kind::kPipeRead : OpenFile::Anonymous::Kind::kPipeWrite;
    files[i]->anonymous.pipe = identity;
  }
  auto guest = context.files.fds.add_pair(std::move(files), (flags & O_CLOEXEC) != 0);
  if (!guest) return guest.error();
  std::memcpy(out->data(), guest->data(), sizeof *guest);
  return 0;
}

std::int64_t fcntl_call(SyscallContext& context, std::int64_t fd, std::uint64_t command, std::uint64_t argument) {
  FdTable& fds = context.files.fds;
  OpenFile* file = fds.get(fd);
  if (file == nullptr) return -EBADF;
  switch (command) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const auto minimum = static_cast<std::int64_t>(static_cast<std::int32_t>(argument));
      if (minimum < 0 || minimum >= FdTable::kLimit) return -EINVAL;
      return fds.add(fds.share(fd), command == F_DUPFD_CLOEXEC, static_cast<int>(minimum));
    }
    case F_GETFD:
      return fds.cloexec(fd) ? FD_CLOEXEC : 0;
    case F_SETFD:
      fds.set_cloexec(fd, (argument & FD_CLOEXEC) != 0);
      return 0;
    case F_GETFL:
      if (file->is_ancestor()) return O_RDONLY | O_DIRECTORY | kKernelLargefile;
      return result_of(::fcntl(file->host_fd, F_GETFL));
    case F_SETFL:
      // hyperlet's own stdin/stdout/stderr keep their flags: they are shared with
      // whoever started hyperlet. Accepted, not applied.
      if (file->is_ancestor() || file->owned.get() < 0) return 0;
      return result_of(
          ::fcntl(file->host_fd, F_SETFL, static_cast<int>(argument & (O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME))));
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW: {
      if (file->is_ancestor()) return -EBADF;
      auto lock = context.read<struct flock>(argument);
      if (!lock) return -EFAULT;
      if (::fcntl(file->host_fd, static_cast<int>(command), &*lock) != 0) {
        if (errno == EINTR) context.interrupted = true;
        return -errno;
      }
      if (command == F_GETLK || command == F_OFD_GETLK) {
        if (lock->l_type != F_UNLCK) lock->l_pid = lock->l_pid == 0 ? 0 : 1;  // the guest's only process
        if (!context.write(argument, *lock)) return -EFAULT;
      }
      return 0;
    }
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ:
      if (file->is_ancestor()) return -EBADF;
      return result_of(::fcntl(file->host_fd, static_cast<int>(command), static_cast<int>(argument)));
    default:
      return -EINVAL;
  }
}

// ---------------------------------------------------------------- data

enum class Io { kRead, kWrite };

// read, write, pread64, pwrite64 (offset < 0 means the file position).
std::int64_t transfer(SyscallContext& context, Io io, std::int64_t fd, std::uint64_t address, std::uint64_t length,
                      std::int64_t offset, bool positioned) {
  const OpenFile* file = context.files.fds.get(fd);
  if (file == nullptr) return -EBADF;
  if (file->is_ancestor()) return io == Io::kRead ? -EISDIR : -EBADF;
  auto buffer = context.user_span(address, length);
  if (!buffer) return -EFAULT;
  const std::size_t size = std::min<std::uint64_t>(buffer->size(), kMaxIo);
  if (io == Io::kRead && file->socket != nullptr) {
    // Input the host already received for the app's socket buffers comes first.
    const iovec whole{buffer->data(), size};
    if (auto stashed = context.socket_buffers.read_stashed(context, *file->socket, {&whole, 1}, false)) return *stashed;
  }
  if (io == Io::kRead) {
    return result_of(positioned ? ::pread(file->host_fd, buffer->data(), size, offset)
                                : ::read(file->host_fd, buffer->data(), size));
  }
  return result_of(positioned ? ::pwrite(file->host_fd, buffer->data(), size, offset)
                              : ::write(file->host_fd, buffer->data(), size));
}

// readv, writev, preadv(2), pwritev(2).
std::int64_t transfer_vector(SyscallContext& context, Io io, std::int64_t fd, std::uint64_t address,
                             std::uint64_t count, std::int64_t offset, bool positioned) {
  const OpenFile* file = context.files.fds.get(fd);
  if (file == nullptr) return -EBADF;
  if (file->is_ancestor()) return io == Io::kRead ? -EISDIR : -EBADF;
  if (count > kMaxIovecs) return -EINVAL;
  auto vectors = context.user_iovecs(address, count);
  if (!vectors) return -EFAULT;
  if (vectors->empty()) return 0;
  const int n = static_cast<int>(vectors->size());
  if (io == Io::kRead && file->socket != nullptr) {
    if (auto stashed = context.socket_buffers.read_stashed(context, *file->socket, *vectors, false)) return *stashed;
  }
  if (io == Io::kRead) {
    return result_of(positioned ? ::preadv(file->host_fd, vectors->data(), n, offset)
                                : ::readv(file->host_fd, vectors->data(), n));
  }
  return result_of(positioned ? ::pwritev(file->host_fd, vectors->data(), n, offset)
                              : ::writev(file->host_fd, vectors->data(), n));
}

// Operations that change a file through its fd: only for files of a writable volume.
Sys<const OpenFile*> changeable_file(const SyscallContext& context, std::int64_t fd) {
  const OpenFile* file = context.files.fds.get(fd);
  if (file == nullptr) return std::unexpected(EBADF);
  if (file->is_ancestor() || file->in_read_only_volume()) return std::unexpected(EROFS);
  if (file->volume == nullptr) return std::unexpected(EINVAL);  // console, pipes
  return file;
}

// ---------------------------------------------------------------- metadata

std::int64_t stat_file(SyscallContext& context, const OpenFile& file, std::uint64_t out) {
  struct stat info = ancestor_stat();  // on x86-64 the kernel's struct stat is glibc's
  if (!file.is_ancestor() && ::fstat(file.host_fd, &info) != 0) return -errno;
  return context.write(out, info) ? 0 : -EFAULT;
}

std::int64_t stat_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address, std::uint64_t out,
                       std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)) != 0) {
    return -EINVAL;
  }
  auto text = context.user_path(path_address);
  if (!text) return -text.error();
  if (text->empty() && (flags & AT_EMPTY_PATH) != 0 && dirfd != AT_FDCWD) {
    const OpenFile* file = context.files.fds.get(dirfd);
    return file == nullptr ? -EBADF : stat_file(context, *file, out);
  }
  auto target = resolve_text(context, dirfd, text->empty() && (flags & AT_EMPTY_PATH) != 0 ? "." : *text);
  if (!target) return error_of(target);
  if (!context.user_span(out, sizeof(struct stat))) return -EFAULT;
  struct stat info = ancestor_stat();
  if (target->outside()) {
    const auto device = device_object(context, target->path);
    if (!device) return -ENOENT;
    if (!*device) return -device->error();
    if (::fstatat((*device)->dirfd, (*device)->name.c_str(), &info, (*device)->at_flags) != 0) return -errno;
    return context.write(out, info) ? 0 : -EFAULT;
  }
  if (target->in_volume()) {
    auto object = host_object(*target, (flags & AT_SYMLINK_NOFOLLOW) == 0);
    if (!object) return error_of(object);
    if (::fstatat(object->fd, object->at_name(), &info, object->at_flags()) != 0) return -errno;
  }
  return context.write(out, info) ? 0 : -EFAULT;
}

std::int64_t statx_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address, std::uint64_t flags,
                        std::uint64_t mask, std::uint64_t out) {
  constexpr std::uint64_t kKnown = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
  if ((flags & ~kKnown) != 0 || (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE) return -EINVAL;
  auto text = context.user_path(path_address);
  if (!text) return -text.error();
  const unsigned host_mask = static_cast<unsigned>(mask);
  const int sync = static_cast<int>(flags & AT_STATX_SYNC_TYPE);
  struct statx info = ancestor_statx();
  if (text->empty() && (flags & AT_EMPTY_PATH) != 0 && dirfd != AT_FDCWD) {
    const OpenFile* file = context.files.fds.get(dirfd);
    if (file == nullptr) return -EBADF;
    if (!file->is_ancestor() && ::statx(file->host_fd, "", AT_EMPTY_PATH | sync, host_mask, &info) != 0) {
      return -errno;
    }
    return context.write(out, info) ? 0 : -EFAULT;
  }
  auto target = resolve_text(context, dirfd, text->empty() && (flags & AT_EMPTY_PATH) != 0 ? "." : *text);
  if (!target) return error_of(target);
  if (!context.user_span(out, sizeof(struct statx))) return -EFAULT;
  if (target->outside()) {
    const auto device = device_object(context, target->path);
    if (!device) return -ENOENT;
    if (!*device) return -device->error();
    if (::statx((*device)->dirfd, (*device)->name.c_str(), (*device)->at_flags | sync, host_mask, &info) != 0) {
      return -errno;
    }
    return context.write(out, info) ? 0 : -EFAULT;
  }
  if (target->in_volume()) {
    auto object = host_object(*target, (flags & AT_SYMLINK_NOFOLLOW) == 0);
    if (!object) return error_of(object);
    if (::statx(object->fd, object->at_name(), object->at_flags() | sync, host_mask, &info) != 0) return -errno;
  }
  return context.write(out, info) ? 0 : -EFAULT;
}

std::int64_t access_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address, std::uint64_t mode,
                         std::uint64_t flags) {
  if ((mode & ~static_cast<std::uint64_t>(R_OK | W_OK | X_OK)) != 0) return -EINVAL;
  if ((flags & ~static_cast<std::uint64_t>(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
  auto target = resolve(context, dirfd, path_address);
  if (!target) return error_of(target);
  if (target->outside()) {
    const auto device = device_object(context, target->path);
    if (!device) return -ENOENT;
    if (!*device) return -device->error();
    const int host_flags = (*device)->at_flags | static_cast<int>(flags & AT_EACCESS);
    return ::syscall(SYS_faccessat2, (*device)->dirfd, (*device)->name.c_str(), static_cast<int>(mode), host_flags) == 0
               ? 0
               : -errno;
  }
  if (target->ancestor()) return (mode & W_OK) != 0 ? -EROFS : 0;
  auto object = host_object(*target, (flags & AT_SYMLINK_NOFOLLOW) == 0);
  if (!object) return error_of(object);
  const int host_flags = object->at_flags() | static_cast<int>(flags & AT_EACCESS);
  if (::syscall(SYS_faccessat2, object->fd, object->at_name(), static_cast<int>(mode), host_flags) != 0) {
    return -errno;
  }
  return (mode & W_OK) != 0 && target->read_only() ? -EROFS : 0;
}

std::int64_t readlink_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address,
                           std::uint64_t buffer, std::uint64_t size) {
  auto target = resolve(context, dirfd, path_address);
  if (!target) return error_of(target);
  if (static_cast<std::int32_t>(size) <= 0) return -EINVAL;
  auto out = context.user_span(buffer, static_cast<std::uint32_t>(size));
  if (!out) return -EFAULT;
  if (target->outside()) {
    if (target->path != "/proc/self/exe") return -ENOENT;
    const std::string& exe = context.exe_path();
    const std::size_t length = std::min(out->size(), exe.size());
    std::memcpy(out->data(), exe.data(), length);
    return static_cast<std::int64_t>(length);
  }
  if (target->ancestor() || target->volume_root()) return -EINVAL;
  auto object = host_object(*target, false);
  if (!object) return error_of(object);
  return result_of(::readlinkat(object->fd, object->at_name(), reinterpret_cast<char*>(out->data()), out->size()));
}

std::int64_t mkdir_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address, std::uint64_t mode) {
  auto target = resolve(context, dirfd, path_address);
  if (!target) return error_of(target);
  if (target->ancestor() || target->volume_root()) return -EEXIST;
  if (target->in_volume() && target->read_only()) {
    // Linux says EEXIST before EROFS; `mkdir -p` relies on it.
    auto object = host_object(*target, false);
    struct stat info {};
    if (object && ::fstatat(object->fd, object->at_name(), &info, AT_SYMLINK_NOFOLLOW) == 0) return -EEXIST;
  }
  auto object = name_to_change(*target);
  if (!object) return error_of(object);
  const auto host_mode = static_cast<mode_t>(mode & 07777 & ~static_cast<std::uint64_t>(context.files.umask));
  return ::mkdirat(object->fd, object->at_name(), host_mode) == 0 ? 0 : -errno;
}

std::int64_t unlink_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address, std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(AT_REMOVEDIR)) != 0) return -EINVAL;
  auto target = resolve(context, dirfd, path_address);
  if (!target) return error_of(target);
  if (target->ancestor() && (flags & AT_REMOVEDIR) == 0) return -EISDIR;
  auto object = name_to_change(*target);
  if (!object) return error_of(object);
  return ::unlinkat(object->fd, object->at_name(), static_cast<int>(flags)) == 0 ? 0 : -errno;
}

std::int64_t rename_path(SyscallContext& context, std::int64_t old_dirfd, std::uint64_t old_address,
                         std::int64_t new_dirfd, std::uint64_t new_address, std::uint64_t flags) {
  auto from = resolve(context, old_dirfd, old_address);
  if (!from) return error_of(from);
  auto to = resolve(context, new_dirfd, new_address);
  if (!to) return error_of(to);
  auto old_object = name_to_change(*from);
  if (!old_object) return error_of(old_object);
  auto new_object = name_to_change(*to);
  if (!new_object) return error_of(new_object);
  if (from->location.volume != to->location.volume) return -EXDEV;
  return ::renameat2(old_object->fd, old_object->at_name(), new_object->fd, new_object->at_name(),
                     static_cast<unsigned>(flags)) == 0
             ? 0
             : -errno;
}

std::int64_t link_path(SyscallContext& context, std::int64_t old_dirfd, std::uint64_t old_address,
                       std::int64_t new_dirfd, std::uint64_t new_address, std::uint64_t flags) {
  // AT_SYMLINK_FOLLOW would let the host follow a symlink the guest made: not offered.
  if (flags != 0) return -EINVAL;
  auto from = resolve(context, old_dirfd, old_address);
  if (!from) return error_of(from);
  auto to = resolve(context, new_dirfd, new_address);
  if (!to) return error_of(to);
  if (from->ancestor() || from->volume_root()) return -EPERM;
  auto old_object = name_to_change(*from);
  if (!old_object) return error_of(old_object);
  auto new_object = name_to_change(*to);
  if (!new_object) return error_of(new_object);
  if (from->location.volume != to->location.volume) return -EXDEV;
  return ::linkat(old_object->fd, old_object->at_name(), new_object->fd, new_object->at_name(), 0) == 0 ? 0 : -errno;
}

std::int64_t symlink_path(SyscallContext& context, std::uint64_t target_address, std::int64_t dirfd,
                          std::uint64_t path_address) {
  auto contents = context.user_path(target_address);
  if (!contents) return -contents.error();
  if (contents->empty()) return -ENOENT;
  auto target = resolve(context, dirfd, path_address);
  if (!target) return error_of(target);
  if (target->ancestor() || target->volume_root()) return -EEXIST;
  auto object = name_to_change(*target);
  if (!object) return error_of(object);
  // Stored as written: the host only ever follows it beneath the volume.
  return ::symlinkat(contents->c_str(), object->fd, object->at_name()) == 0 ? 0 : -errno;
}

std::int64_t chmod_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address, std::uint64_t mode,
                        std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(AT_SYMLINK_NOFOLLOW)) != 0) return -EINVAL;
  auto target = resolve(context, dirfd, path_address);
  if (!target) return error_of(target);
  if (target->outside()) return -ENOENT;
  if (target->read_only()) return -EROFS;
  if ((flags & AT_SYMLINK_NOFOLLOW) != 0) return -EOPNOTSUPP;  // as Linux for symlinks
  auto object = host_object(*target, true);
  if (!object) return error_of(object);
  return ::chmod(proc_fd_path(object->fd).c_str(), static_cast<mode_t>(mode & 07777)) == 0 ? 0 : -errno;
}

std::int64_t utimens(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address,
                     std::uint64_t times_address, std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
  timespec times[2];
  if (times_address != 0) {
    auto bytes = context.user_span(times_address, sizeof times);
    if (!bytes) return -EFAULT;
    std::memcpy(times, bytes->data(), sizeof times);
  }
  const timespec* host_times = times_address != 0 ? times : nullptr;
  if (path_address == 0) {  // utimensat(fd, NULL, ...): the fd itself (futimens)
    auto file = changeable_file(context, dirfd);
    if (!file) return error_of(file);
    return ::utimensat(AT_FDCWD, proc_fd_path((*file)->host_fd).c_str(), host_times, 0) == 0 ? 0 : -errno;
  }
  auto target = resolve(context, dirfd, path_address);
  if (!target) return error_of(target);
  if (target->outside()) return -ENOENT;
  if (target->read_only()) return -EROFS;
  const bool follow = (flags & AT_SYMLINK_NOFOLLOW) == 0;
  auto object = host_object(*target, follow);
  if (!object) return error_of(object);
  if (object->name.empty()) {
    return ::utimensat(AT_FDCWD, proc_fd_path(object->fd).c_str(), host_times, 0) == 0 ? 0 : -errno;
  }
  return ::utimensat(object->fd, object->at_name(), host_times, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

std::int64_t truncate_path(SyscallContext& context, std::uint64_t path_address, std::int64_t length) {
  auto target = resolve(context, AT_FDCWD, path_address);
  if (!target) return error_of(target);
  if (target->outside()) return -ENOENT;
  if (target->ancestor()) return -EISDIR;
  if (target->read_only()) return -EROFS;
  // Judged by an O_PATH fd first: opening a FIFO for writing would block hyperlet.
  auto path_fd = open_beneath(*target, target->location.relative, O_PATH, 0);
  if (!path_fd) return error_of(path_fd);
  struct stat info {};
  if (::fstat(path_fd->get(), &info) != 0) return -errno;
  if (S_ISDIR(info.st_mode)) return -EISDIR;
  if (!S_ISREG(info.st_mode)) return -EINVAL;  // as Linux answers for anything but a file
  auto fd = reopen(path_fd->get(), O_WRONLY);
  if (!fd) return error_of(fd);
  return ::ftruncate(fd->get(), length) == 0 ? 0 : -errno;
}

std::int64_t change_directory(SyscallContext& context, Sys<Target> target) {
  if (!target) return error_of(target);
  if (target->outside()) return -ENOENT;
  if (target->in_volume()) {
    auto fd = open_beneath(*target, target->location.relative, O_PATH | O_DIRECTORY, 0);
    if (!fd) return error_of(fd);
  }
  context.files.cwd = target->path;
  return 0;
}

std::int64_t send_file(SyscallContext& context, std::int64_t out_fd, std::int64_t in_fd, std::uint64_t offset_address,
                       std::uint64_t count) {
  const OpenFile* out = context.files.fds.get(out_fd);
  const OpenFile* in = context.files.fds.get(in_fd);
  if (out == nullptr || in == nullptr || out->is_ancestor() || in->is_ancestor()) return -EBADF;
  const std::size_t size = std::min<std::uint64_t>(count, kMaxIo);
  if (offset_address == 0) return result_of(::sendfile(out->host_fd, in->host_fd, nullptr, size));
  auto offset = context.read<off_t>(offset_address);
  if (!offset) return -EFAULT;
  const ssize_t sent = ::sendfile(out->host_fd, in->host_fd, &*offset, size);
  if (sent < 0) return -errno;
  return context.write(offset_address, *offset) ? sent : -EFAULT;
}

// ---------------------------------------------------------------- statfs

// On x86-64 the kernel's struct statfs is glibc's.
static_assert(sizeof(struct statfs) == 120);
constexpr long kStatfsValid = 0x0020;  // ST_VALID: the kernel sets it in every f_flags

// "/" and the directories above the volumes are hyperlet's own: an empty,
// read-only in-memory file system (nothing can be created there), reported as an
// empty ramfs would be.
struct statfs ancestor_statfs() {
  struct statfs info {};
  info.f_type = RAMFS_MAGIC;
  info.f_bsize = 4096;
  info.f_frsize = 4096;
  info.f_namelen = 255;
  info.f_flags = kStatfsValid | ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC;
  return info;
}

// The host's answer for the file system behind host_fd; a :ro volume reads as a
// read-only file system, as a read-only bind mount does, so that apps checking
// statvfs before writing see the truth.
std::int64_t statfs_host(SyscallContext& context, int host_fd, const Volume* volume, std::uint64_t out) {
  struct statfs info {};
  if (::fstatfs(host_fd, &info) != 0) return -errno;
  if (volume != nullptr && volume->read_only) info.f_flags |= ST_RDONLY;
  return context.write(out, info) ? 0 : -EFAULT;
}

std::int64_t statfs_path(SyscallContext& context, std::uint64_t path_address, std::uint64_t out) {
  auto target = resolve(context, AT_FDCWD, path_address);
  if (!target) return error_of(target);
  if (target->outside()) return -ENOENT;
  if (target->ancestor()) return context.write(out, ancestor_statfs()) ? 0 : -EFAULT;
  auto object = host_object(*target, true);  // statfs follows a final symlink
  if (!object) return error_of(object);
  return statfs_host(context, object->fd, target->location.volume, out);
}

std::int64_t statfs_file(SyscallContext& context, std::int64_t fd, std::uint64_t out) {
  const OpenFile* file = context.files.fds.get(fd);
  if (file == nullptr) return -EBADF;
  if (file->is_ancestor()) return context.write(out, ancestor_statfs()) ? 0 : -EFAULT;
  // Console, pipes and sockets answer as on Linux (the host's pipefs, sockfs, tty).
  return statfs_host(context, file->host_fd, file->volume, out);
}

// ---------------------------------------------------------------- owners

// The guest sees itself as uid 0, but it is not root on the host's files: a change
// of owner is allowed only as Linux allows it without CAP_CHOWN (fs/attr.c
// chown_ok/chgrp_ok), judged against hyperlet's own credentials. The owner may
// "change" the uid only to the file's own uid, and the group to the file's group
// or to one hyperlet is a member of; nobody else may change either; -1 changes
// nothing. A hyperlet run by a user would get the same EPERM from the host; a
// hyperlet run by root (CI, containers) must not let the guest give files in a
// volume away to other users, so the rule is applied here and not left to the host.
bool in_own_groups(gid_t gid) {
  if (gid == ::getegid()) return true;
  const int count = ::getgroups(0, nullptr);
  if (count <= 0) return false;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  const int filled = ::getgroups(count, groups.data());
  return filled > 0 && std::find(groups.begin(), groups.begin() + filled, gid) != groups.begin() + filled;
}

bool may_change_owner(const struct stat& info, uid_t uid, gid_t gid) {
  const bool owner = info.st_uid == ::geteuid();
  if (uid != static_cast<uid_t>(-1) && !(owner && uid == info.st_uid)) return false;
  if (gid != static_cast<gid_t>(-1) && !(owner && (gid == info.st_gid || in_own_groups(gid)))) return false;
  return true;
}

// fd: an O_PATH fd of the object itself (never a name that could change in between).
std::int64_t change_owner(int fd, std::uint64_t uid_argument, std::uint64_t gid_argument) {
  const auto uid = static_cast<uid_t>(uid_argument);  // Linux takes uid_t/gid_t: the low 32 bits
  const auto gid = static_cast<gid_t>(gid_argument);
  struct stat info {};
  if (::fstat(fd, &info) != 0) return -errno;
  if (!may_change_owner(info, uid, gid)) return -EPERM;
  return ::fchownat(fd, "", uid, gid, AT_EMPTY_PATH) == 0 ? 0 : -errno;
}

// chown, lchown, fchownat. A path outside every volume is ENOENT; "/" and the
// directories above the volumes, and :ro volumes, are EROFS (as chmod).
std::int64_t chown_path(SyscallContext& context, std::int64_t dirfd, std::uint64_t path_address, std::uint64_t uid,
                        std::uint64_t gid, std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
  auto text = context.user_path(path_address);
  if (!text) return -text.error();
  if (text->empty() && (flags & AT_EMPTY_PATH) != 0 && dirfd != AT_FDCWD) {  // the fd itself, O_PATH too
    const OpenFile* file = context.files.fds.get(dirfd);
    if (file == nullptr) return -EBADF;
    if (file->is_ancestor() || file->in_read_only_volume()) return -EROFS;
    if (file->volume == nullptr) return -EINVAL;  // console, pipes, sockets: as fchmod
    return change_owner(file->host_fd, uid, gid);
  }
  auto target = resolve_text(context, dirfd, text->empty() && (flags & AT_EMPTY_PATH) != 0 ? "." : *text);
  if (!target) return error_of(target);
  if (target->outside()) return -ENOENT;
  if (target->ancestor()) return -EROFS;
  const bool follow = (flags & AT_SYMLINK_NOFOLLOW) == 0;
  // The object itself as an O_PATH fd; without follow, a final symlink is the link.
  HostObject object;
  if (target->volume_root()) {
    object.fd = target->location.volume->dir.get();
  } else {
    auto fd = open_beneath(*target, target->location.relative, O_PATH | (follow ? 0 : O_NOFOLLOW), 0);
    if (!fd) return error_of(fd);
    object.fd = fd->get();
    object.owned = std::move(*fd);
  }
  if (target->read_only()) return -EROFS;
  return change_owner(object.fd, uid, gid);
}

std::int64_t chown_file(SyscallContext& context, std::int64_t fd, std::uint64_t uid, std::uint64_t gid) {
  auto file = changeable_file(context, fd);
  if (!file) return error_of(file);
  const int status = ::fcntl((*file)->host_fd, F_GETFL);
  if (status < 0) return -errno;
  if ((status & O_PATH) != 0) return -EBADF;  // as Linux: fchown needs a real open file
  return change_owner((*file)->host_fd, uid, gid);
}

// ---------------------------------------------------------------- copy_file_range

// Between two guest fds, by the host's copy_file_range on the host fds: the host
// checks what Linux checks (a read-only or O_APPEND destination is EBADF, a
// directory EISDIR, anything but regular files EINVAL, overlapping ranges in one
// file EINVAL). Offsets are read and written back through the checked accessors,
// in Linux's order (fds, then offsets, then flags); the length is capped at
// MAX_RW_COUNT, so a huge one is a short copy.
std::int64_t copy_range(SyscallContext& context, std::int64_t in_fd, std::uint64_t in_offset_address,
                        std::int64_t out_fd, std::uint64_t out_offset_address, std::uint64_t length,
                        std::uint64_t flags) {
  const OpenFile* in = context.files.fds.get(in_fd);
  const OpenFile* out = context.files.fds.get(out_fd);
  if (in == nullptr || out == nullptr) return -EBADF;
  std::optional<loff_t> in_offset;
  std::optional<loff_t> out_offset;
  if (in_offset_address != 0 && !(in_offset = context.read<loff_t>(in_offset_address))) return -EFAULT;
  if (out_offset_address != 0 && !(out_offset = context.read<loff_t>(out_offset_address))) return -EFAULT;
  if (flags != 0) return -EINVAL;
  if (in->is_ancestor() || out->is_ancestor()) return -EISDIR;
  // Files of a :ro volume are only ever open read-only, so the host says EBADF
  // too; refused here as well, whatever the host fd would allow.
  if (out->in_read_only_volume() && !out->directory) return -EBADF;
  const std::size_t size = std::min<std::uint64_t>(length, kMaxIo);
  const ssize_t copied = ::copy_file_range(in->host_fd, in_offset ? &*in_offset : nullptr, out->host_fd,
                                           out_offset ? &*out_offset : nullptr, size, 0);
  if (copied < 0) return -errno;
  if (copied > 0) {
    if (in_offset && !context.write(in_offset_address, *in_offset)) return -EFAULT;
    if (out_offset && !context.write(out_offset_address, *out_offset)) return -EFAULT;
  }
  return copied;
}

}  // namespace

// ---------------------------------------------------------------- snapshots (devices/fd_snapshot.h)

FdDescription describe_volume_file(const OpenFile& file) {
  if (file.is_ancestor()) return nlohmann::json{{"kind", "ancestor"}, {"path", file.guest_path}};
  if (file.volume == nullptr || file.guest_path.empty()) return std::unexpected("not a file of a volume");
  const int flags = ::fcntl(file.host_fd, F_GETFL);
  if (flags < 0) return std::unexpected(fmt::format("F_GETFL failed: {}", std::strerror(errno)));
  const off_t offset = file.directory || (flags & O_PATH) != 0 ? 0 : ::lseek(file.host_fd, 0, SEEK_CUR);
  if (offset < 0) return std::unexpected(fmt::format("its file position cannot be read: {}", std::strerror(errno)));
  return nlohmann::json{
      {"kind", "file"}, {"path", file.guest_path}, {"flags", flags}, {"offset", offset}, {"directory", file.directory}};
}

RestoredFile restore_volume_file(SyscallContext& context, const nlohmann::json& description) {
  const std::string path = description.at("path").get<std::string>();
  auto target = resolve_text(context, AT_FDCWD, path);
  if (!target) return std::unexpected(fmt::format("{}: {}", path, std::strerror(target.error())));
  auto file = std::make_shared<OpenFile>();
  file->guest_path = target->path;
  if (description.at("kind") == "ancestor") {
    if (!target->ancestor()) return std::unexpected(fmt::format("{} is no longer a directory above the volumes", path));
    file->directory = true;
    file->ancestor_entries = ancestor_entries(context.files.volumes, target->path);
    return file;
  }
  if (target->outside() || target->ancestor()) {
    return std::unexpected(fmt::format("the app had {} open, and no --volume of this command line grants it", path));
  }
  const auto flags = description.at("flags").get<std::uint64_t>() &
                     static_cast<std::uint64_t>(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_PATH |
                                                kKernelLargefile | O_DSYNC | O_SYNC);
  const bool writes = (flags & O_PATH) == 0 && (flags & O_ACCMODE) != O_RDONLY;
  if (writes && target->read_only()) {
    return std::unexpected(fmt::format("the app had {} open for writing, and its --volume is :ro now", path));
  }
  auto fd = (flags & O_PATH) != 0 ? open_beneath(*target, target->location.relative, flags, 0)
                                  : open_for_io(*target, flags, 0, false);
  if (!fd) return std::unexpected(fmt::format("{}: {}", path, std::strerror(fd.error())));
  struct stat info {};
  if (::fstat(fd->get(), &info) != 0) return std::unexpected(fmt::format("{}: {}", path, std::strerror(errno)));
  file->directory = S_ISDIR(info.st_mode);
  const auto offset = description.at("offset").get<std::int64_t>();
  if (offset != 0 && ::lseek(fd->get(), offset, SEEK_SET) != offset) {
    return std::unexpected(fmt::format("{}: cannot seek to {}: {}", path, offset, std::strerror(errno)));
  }
  file->volume = target->location.volume;
  file->host_fd = fd->get();
  file->owned = std::move(*fd);
  return file;
}

// A pipe end, with what waits in the pipe (copied by tee into a scratch pipe
// of the same capacity, so nothing is taken out of the app's). `pipe` names
// the pipe within one snapshot: its two ends carry the same number.
FdDescription describe_pipe_end(const OpenFile& file, std::uint64_t pipe) {
  const bool read_end = file.anonymous.kind == OpenFile::Anonymous::Kind::kPipeRead;
  const int flags = ::fcntl(file.host_fd, F_GETFL);
  if (flags < 0) return std::unexpected(fmt::format("a pipe whose flags cannot be read: {}", std::strerror(errno)));
  const int capacity = ::fcntl(file.host_fd, F_GETPIPE_SZ);
  std::string waiting;
  if (read_end) {
    int scratch[2];
    if (::pipe2(scratch, O_CLOEXEC | O_NONBLOCK) != 0) {
      return std::unexpected(fmt::format("a pipe's contents cannot be copied: {}", std::strerror(errno)));
    }
    const UniqueFd scratch_read(scratch[0]), scratch_write(scratch[1]);
    if (capacity > 0) ::fcntl(scratch[1], F_SETPIPE_SZ, capacity);
    const ssize_t copied =
        ::tee(file.host_fd, scratch[1], static_cast<std::size_t>(std::max(capacity, 65536)), SPLICE_F_NONBLOCK);
    if (copied < 0 && errno != EAGAIN) {
      return std::unexpected(fmt::format("a pipe's contents cannot be copied: {}", std::strerror(errno)));
    }
    char buffer[4096];
    for (ssize_t got; (got = ::read(scratch[0], buffer, sizeof buffer)) > 0;) {
      waiting.append(buffer, static_cast<std::size_t>(got));
    }
  }
  std::string hex;
  hex.reserve(waiting.size() * 2);
  for (const unsigned char byte : waiting) hex += fmt::format("{:02x}", byte);
  return nlohmann::json{{"kind", "pipe"}, {"pipe", pipe},         {"end", read_end ? "read" : "write"},
                        {"flags", flags}, {"capacity", capacity}, {"waiting", hex}};
}

RestoredFile restore_pipe_end(SyscallContext&, const nlohmann::json& description, PipeRestore& pipes) {
  const auto pipe = description.at("pipe").get<std::uint64_t>();
  const bool read_end = description.at("end") == "read";
  auto& ends = pipes[pipe];
  if (!ends[0]) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(fmt::format("pipe2: {}", std::strerror(errno)));
    auto identity = std::make_shared<int>(0);
    for (std::size_t i = 0; i < 2; ++i) {
      ends[i] = std::make_shared<OpenFile>();
      ends[i]->host_fd = fds[i];
      ends[i]->owned = UniqueFd(fds[i]);
      ends[i]->anonymous.kind = i == 0 ? OpenFile::Anonymous::Kind::kPipeRead : OpenFile::Anonymous::Kind::kPipeWrite;
      ends[i]->anonymous.pipe = identity;
    }
  }
  std::shared_ptr<OpenFile> file = ends[read_end ? 0 : 1];
  if (const int capacity = description.at("capacity").get<int>(); capacity > 0) {
    ::fcntl(file->host_fd, F_SETPIPE_SZ, capacity);
  }
  if (read_end) {
    const std::string hex = description.at("waiting").get<std::string>();
    if (hex.size() % 2 != 0) return std::unexpected(std::string("a pipe's contents are malformed"));
    std::string waiting;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      unsigned value = 0;
      const auto [end, error] = std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
      if (error != std::errc() || end != hex.data() + i + 2) {
        return std::unexpected(std::string("a pipe's contents are malformed"));
      }
      waiting.push_back(static_cast<char>(value));
    }
    if (!waiting.empty() &&
        ::write(ends[1]->host_fd, waiting.data(), waiting.size()) != static_cast<ssize_t>(waiting.size())) {
      return std::unexpected(
          fmt::format("a pipe's {} waiting bytes cannot be put back: {}", waiting.size(), std::strerror(errno)));
    }
  }
  const int flags = description.at("flags").get<int>() & O_NONBLOCK;
  if (::fcntl(file->host_fd, F_SETFL, flags) != 0) {
    return std::unexpected(fmt::format("a pipe's flags: {}", std::strerror(errno)));
  }
  return file;
}

void register_filesystem_syscalls(HostSyscallTable& table) {
  using C = SyscallContext;
  using A = SyscallArguments;
  using R = std::int64_t;
  const std::int64_t cwd = AT_FDCWD;

  // ---- open, close, dup, pipes
  table.add(SYS_open, [cwd](C& c, const A& a) -> R { return open_path(c, cwd, a[0], a[1], a[2]); });
  table.add(SYS_creat,
            [cwd](C& c, const A& a) -> R { return open_path(c, cwd, a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1]); });
  table.add(SYS_openat, [](C& c, const A& a) -> R { return open_path(c, fd_argument(a[0]), a[1], a[2], a[3]); });
  table.add(SYS_close, [](C& c, const A& a) -> R { return c.files.fds.close(fd_argument(a[0])); });
  table.add(SYS_dup, [](C& c, const A& a) -> R {
    auto file = c.files.fds.share(fd_argument(a[0]));
    return file == nullptr ? -EBADF : c.files.fds.add(std::move(file), false);
  });
  table.add(SYS_dup2, [](C& c, const A& a) -> R {
    const std::int64_t fd = fd_argument(a[0]), target = fd_argument(a[1]);
    if (fd == target) return c.files.fds.get(fd) != nullptr ? target : -EBADF;
    return c.files.fds.duplicate_to(fd, target, false);
  });
  table.add(SYS_dup3, [](C& c, const A& a) -> R { return dup3(c, fd_argument(a[0]), fd_argument(a[1]), a[2]); });
  table.add(SYS_fcntl, [](C& c, const A& a) -> R { return fcntl_call(c, fd_argument(a[0]), a[1], a[2]); });
  table.add(SYS_pipe, [](C& c, const A& a) -> R { return make_pipe(c, a[0], 0); });
  table.add(SYS_pipe2, [](C& c, const A& a) -> R { return make_pipe(c, a[0], a[1]); });
  table.add(SYS_umask, [](C& c, const A& a) -> R {
    return static_cast<R>(std::exchange(c.files.umask, static_cast<mode_t>(a[0] & 0777)));
  });

  // ---- data
  table.add(SYS_read,
            [](C& c, const A& a) -> R { return transfer(c, Io::kRead, fd_argument(a[0]), a[1], a[2], 0, false); });
  table.add(SYS_write,
            [](C& c, const A& a) -> R { return transfer(c, Io::kWrite, fd_argument(a[0]), a[1], a[2], 0, false); });
  table.add(SYS_pread64, [](C& c, const A& a) -> R {
    return transfer(c, Io::kRead, fd_argument(a[0]), a[1], a[2], static_cast<std::int64_t>(a[3]), true);
  });
  table.add(SYS_pwrite64, [](C& c, const A& a) -> R {
    return transfer(c, Io::kWrite, fd_argument(a[0]), a[1], a[2], static_cast<std::int64_t>(a[3]), true);
  });
  table.add(SYS_readv, [](C& c, const A& a) -> R {
    return transfer_vector(c, Io::kRead, fd_argument(a[0]), a[1], a[2], 0, false);
  });
  table.add(SYS_writev, [](C& c, const A& a) -> R {
    return transfer_vector(c, Io::kWrite, fd_argument(a[0]), a[1], a[2], 0, false);
  });
  table.add(SYS_preadv, [](C& c, const A& a) -> R {
    return transfer_vector(c, Io::kRead, fd_argument(a[0]), a[1], a[2], static_cast<std::int64_t>(a[3]), true);
  });
  table.add(SYS_pwritev, [](C& c, const A& a) -> R {
    return transfer_vector(c, Io::kWrite, fd_argument(a[0]), a[1], a[2], static_cast<std::int64_t>(a[3]), true);
  });
  table.add(SYS_preadv2, [](C& c, const A& a) -> R {
    if (a[5] != 0) return -EOPNOTSUPP;
    const auto offset = static_cast<std::int64_t>(a[3]);
    return transfer_vector(c, Io::kRead, fd_argument(a[0]), a[1], a[2], offset, offset != -1);
  });
  table.add(SYS_pwritev2, [](C& c, const A& a) -> R {
    if (a[5] != 0) return -EOPNOTSUPP;
    const auto offset = static_cast<std::int64_t>(a[3]);
    return transfer_vector(c, Io::kWrite, fd_argument(a[0]), a[1], a[2], offset, offset != -1);
  });
  table.add(SYS_lseek, [](C& c, const A& a) -> R {
    OpenFile* file = c.files.fds.get(fd_argument(a[0]));
    if (file == nullptr) return -EBADF;
    if (file->is_ancestor()) {
      if (a[1] != 0 || a[2] != SEEK_SET) return -EINVAL;
      file->ancestor_position = 0;
      return 0;
    }
    return result_of(::lseek(file->host_fd, static_cast<off_t>(a[1]), static_cast<int>(a[2])));
  });
  table.add(SYS_sendfile,
            [](C& c, const A& a) -> R { return send_file(c, fd_argument(a[0]), fd_argument(a[1]), a[2], a[3]); });
  table.add(SYS_getdents64, [](C& c, const A& a) -> R {
    OpenFile* file = c.files.fds.get(fd_argument(a[0]));
    if (file == nullptr) return -EBADF;
    const std::uint64_t count = static_cast<std::uint32_t>(a[2]);
    if (file->is_ancestor()) return ancestor_getdents(c, *file, a[1], count);
    if (!file->directory) return -ENOTDIR;
    auto out = c.user_span(a[1], count);
    if (!out) return -EFAULT;
    return result_of(::syscall(SYS_getdents64, file->host_fd, out->data(), out->size()));
  });

  // ---- the file behind an fd
  table.add(SYS_fstat, [](C& c, const A& a) -> R {
    const OpenFile* file = c.files.fds.get(fd_argument(a[0]));
    return file == nullptr ? -EBADF : stat_file(c, *file, a[1]);
  });
  table.add(SYS_ftruncate, [](C& c, const A& a) -> R {
    auto file = changeable_file(c, fd_argument(a[0]));
    if (!file) return error_of(file);
    return ::ftruncate((*file)->host_fd, static_cast<off_t>(a[1])) == 0 ? 0 : -errno;
  });
  table.add(SYS_fallocate, [](C& c, const A& a) -> R {
    auto file = changeable_file(c, fd_argument(a[0]));
    if (!file) return error_of(file);
    return ::fallocate((*file)->host_fd, static_cast<int>(a[1]), static_cast<off_t>(a[2]), static_cast<off_t>(a[3])) ==
                   0
               ? 0
               : -errno;
  });
  table.add(SYS_fchmod, [](C& c, const A& a) -> R {
    auto file = changeable_file(c, fd_argument(a[0]));
    if (!file) return error_of(file);
    return ::chmod(proc_fd_path((*file)->host_fd).c_str(), static_cast<mode_t>(a[1] & 07777)) == 0 ? 0 : -errno;
  });
  auto sync = [](C& c, const A& a, bool data_only) -> R {
    const OpenFile* file = c.files.fds.get(fd_argument(a[0]));
    if (file == nullptr) return -EBADF;
    if (file->is_ancestor()) return 0;
    return (data_only ? ::fdatasync(file->host_fd) : ::fsync(file->host_fd)) == 0 ? 0 : -errno;
  };
  table.add(SYS_fsync, [sync](C& c, const A& a) -> R { return sync(c, a, false); });
  table.add(SYS_fdatasync, [sync](C& c, const A& a) -> R { return sync(c, a, true); });
  table.add(SYS_fadvise64, [](C& c, const A& a) -> R {
    const OpenFile* file = c.files.fds.get(fd_argument(a[0]));
    if (file == nullptr) return -EBADF;
    if (file->is_ancestor()) return 0;
    return -::posix_fadvise(file->host_fd, static_cast<off_t>(a[1]), static_cast<off_t>(a[2]), static_cast<int>(a[3]));
  });
  table.add(SYS_flock, [](C& c, const A& a) -> R {
    const OpenFile* file = c.files.fds.get(fd_argument(a[0]));
    if (file == nullptr) return -EBADF;
    if (file->is_ancestor()) return 0;
    if (::flock(file->host_fd, static_cast<int>(a[1])) == 0) return 0;
    if (errno == EINTR) c.interrupted = true;
    return -errno;
  });

  // ---- paths
  table.add(SYS_stat, [cwd](C& c, const A& a) -> R { return stat_path(c, cwd, a[0], a[1], 0); });
  table.add(SYS_lstat, [cwd](C& c, const A& a) -> R { return stat_path(c, cwd, a[0], a[1], AT_SYMLINK_NOFOLLOW); });
  table.add(SYS_newfstatat, [](C& c, const A& a) -> R { return stat_path(c, fd_argument(a[0]), a[1], a[2], a[3]); });
  table.add(SYS_statx, [](C& c, const A& a) -> R { return statx_path(c, fd_argument(a[0]), a[1], a[2], a[3], a[4]); });
  table.add(SYS_access, [cwd](C& c, const A& a) -> R { return access_path(c, cwd, a[0], a[1], 0); });
  table.add(SYS_faccessat, [](C& c, const A& a) -> R { return access_path(c, fd_argument(a[0]), a[1], a[2], 0); });
  table.add(SYS_faccessat2, [](C& c, const A& a) -> R { return access_path(c, fd_argument(a[0]), a[1], a[2], a[3]); });
  table.add(SYS_readlink, [cwd](C& c, const A& a) -> R { return readlink_path(c, cwd, a[0], a[1], a[2]); });
  table.add(SYS_readlinkat,
            [](C& c, const A& a) -> R { return readlink_path(c, fd_argument(a[0]), a[1], a[2], a[3]); });
  table.add(SYS_mkdir, [cwd](C& c, const A& a) -> R { return mkdir_path(c, cwd, a[0], a[1]); });
  table.add(SYS_mkdirat, [](C& c, const A& a) -> R { return mkdir_path(c, fd_argument(a[0]), a[1], a[2]); });
  table.add(SYS_unlink, [cwd](C& c, const A& a) -> R { return unlink_path(c, cwd, a[0], 0); });
  table.add(SYS_rmdir, [cwd](C& c, const A& a) -> R { return unlink_path(c, cwd, a[0], AT_REMOVEDIR); });
  table.add(SYS_unlinkat, [](C& c, const A& a) -> R { return unlink_path(c, fd_argument(a[0]), a[1], a[2]); });
  table.add(SYS_rename, [cwd](C& c, const A& a) -> R { return rename_path(c, cwd, a[0], cwd, a[1], 0); });
  table.add(SYS_renameat,
            [](C& c, const A& a) -> R { return rename_path(c, fd_argument(a[0]), a[1], fd_argument(a[2]), a[3], 0); });
  table.add(SYS_renameat2, [](C& c, const A& a) -> R {
    return rename_path(c, fd_argument(a[0]), a[1], fd_argument(a[2]), a[3], a[4]);
  });
  table.add(SYS_link, [cwd](C& c, const A& a) -> R { return link_path(c, cwd, a[0], cwd, a[1], 0); });
  table.add(SYS_linkat,
            [](C& c, const A& a) -> R { return link_path(c, fd_argument(a[0]), a[1], fd_argument(a[2]), a[3], a[4]); });
  table.add(SYS_symlink, [cwd](C& c, const A& a) -> R { return symlink_path(c, a[0], cwd, a[1]); });
  table.add(SYS_symlinkat, [](C& c, const A& a) -> R { return symlink_path(c, a[0], fd_argument(a[1]), a[2]); });
  table.add(SYS_chmod, [cwd](C& c, const A& a) -> R { return chmod_path(c, cwd, a[0], a[1], 0); });
  table.add(SYS_fchmodat, [](C& c, const A& a) -> R { return chmod_path(c, fd_argument(a[0]), a[1], a[2], 0); });
  table.add(SYS_utimensat, [](C& c, const A& a) -> R { return utimens(c, fd_argument(a[0]), a[1], a[2], a[3]); });
  table.add(SYS_truncate,
            [](C& c, const A& a) -> R { return truncate_path(c, a[0], static_cast<std::int64_t>(a[1])); });

  // ---- file systems, owners, copies between files
  table.add(SYS_statfs, [](C& c, const A& a) -> R { return statfs_path(c, a[0], a[1]); });
  table.add(SYS_fstatfs, [](C& c, const A& a) -> R { return statfs_file(c, fd_argument(a[0]), a[1]); });
  table.add(SYS_chown, [cwd](C& c, const A& a) -> R { return chown_path(c, cwd, a[0], a[1], a[2], 0); });
  table.add(SYS_lchown,
            [cwd](C& c, const A& a) -> R { return chown_path(c, cwd, a[0], a[1], a[2], AT_SYMLINK_NOFOLLOW); });
  table.add(SYS_fchownat,
            [](C& c, const A& a) -> R { return chown_path(c, fd_argument(a[0]), a[1], a[2], a[3], a[4]); });
  table.add(SYS_fchown, [](C& c, const A& a) -> R { return chown_file(c, fd_argument(a[0]), a[1], a[2]); });
  table.add(SYS_copy_file_range, [](C& c, const A& a) -> R {
    return copy_range(c, fd_argument(a[0]), a[1], fd_argument(a[2]), a[3], a[4], a[5]);
  });

  // ---- the working directory
  table.add(SYS_getcwd, [](C& c, const A& a) -> R {
    const std::string& path = c.files.cwd;
    if (a[1] < path.size() + 1) return -ERANGE;
    auto out = c.user_span(a[0], path.size() + 1);
    if (!out) return -EFAULT;
    std::memcpy(out->data(), path.c_str(), path.size() + 1);
    return static_cast<R>(path.size() + 1);
  });
  table.add(SYS_chdir, [cwd](C& c, const A& a) -> R { return change_directory(c, resolve(c, cwd, a[0])); });
  table.add(SYS_fchdir, [](C& c, const A& a) -> R {
    const OpenFile* file = c.files.fds.get(fd_argument(a[0]));
    if (file == nullptr) return -EBADF;
    if (file->guest_path.empty() || !file->directory) return -ENOTDIR;
    return change_directory(c, resolve_text(c, AT_FDCWD, file->guest_path));
  });
}

std::optional<Interpreter> read_interpreter_line(std::string_view start) {
  constexpr std::size_t kLineMax = 255;  // Linux's BINPRM_BUF_SIZE - 1
  if (!start.starts_with("#!")) return std::nullopt;
  std::string_view line = start.substr(2, kLineMax - 2);
  if (const auto end = line.find('\n'); end != std::string_view::npos) line = line.substr(0, end);
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!line.empty() && blank(line.front())) line.remove_prefix(1);
  while (!line.empty() && (blank(line.back()) || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return std::nullopt;
  std::size_t split = 0;
  while (split < line.size() && !blank(line[split])) ++split;
  Interpreter interpreter{std::string(line.substr(0, split)), std::nullopt};
  std::string_view rest = line.substr(split);
  while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
  if (!rest.empty()) interpreter.argument = std::string(rest);
  return interpreter;
}

std::expected<Executable, int> open_executable(const SyscallContext& context, std::uint64_t path) {
  auto text = context.user_path(path);
  if (!text) return std::unexpected(text.error());
  return open_executable(context, *text);
}

namespace {

// Linux's rule for what execve runs: a regular file with an execute bit.
std::expected<Executable, int> executable_if_runnable(UniqueFd fd, std::string guest_path) {
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) return std::unexpected(errno);
  if (!S_ISREG(status.st_mode) || (status.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
    return std::unexpected(EACCES);
  }
  return Executable{std::move(fd), std::move(guest_path)};
}

}  // namespace

std::expected<Executable, int> open_executable(const SyscallContext& context, const std::string& path) {
  return open_executable_at(context, AT_FDCWD, path, true);
}

std::expected<Executable, int> open_executable_at(const SyscallContext& context, std::int64_t dirfd,
                                                  const std::string& path, bool follow) {
  auto target = resolve_text(context, dirfd, path);
  if (!target) return std::unexpected(target.error());
  if (!target->in_volume()) return std::unexpected(target->ancestor() ? EACCES : ENOENT);
  auto fd = open_beneath(*target, target->location.relative, O_RDONLY | (follow ? 0 : O_NOFOLLOW), 0);
  if (!fd) return std::unexpected(fd.error());
  return executable_if_runnable(std::move(*fd), target->path);
}

std::expected<Executable, int> open_executable_fd(const SyscallContext& context, std::int64_t fd) {
  const OpenFile* file = context.files.fds.get(fd);
  if (file == nullptr) return std::unexpected(EBADF);
  if (file->is_ancestor()) return std::unexpected(EACCES);  // a directory above the volumes
  // Checked first: reopening a pipe with no writer would block.
  struct stat status {};
  if (::fstat(file->host_fd, &status) != 0) return std::unexpected(errno);
  if (!S_ISREG(status.st_mode)) return std::unexpected(EACCES);
  // Reopened for reading through /proc/self/fd: the very inode, whatever the
  // app's fd was opened for (O_PATH, write-only).
  auto reopened = reopen(file->host_fd, O_RDONLY);
  if (!reopened) return std::unexpected(reopened.error() == ENOENT ? EBADF : reopened.error());
  return executable_if_runnable(std::move(*reopened), fmt::format("/dev/fd/{}", fd));
}

}  // namespace hyperlet
