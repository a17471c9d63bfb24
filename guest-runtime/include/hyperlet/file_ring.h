// File ring: memory the guest library shares so that reads and writes of
// regular files need no trap and no VM exit while the app keeps making them
// (see docs/DESIGN.md, "File ring").
//
// The app's read/pread/write/pwrite on a regular file of a volume is put in
// `request` and the app waits for it in ring 3. A host thread that polls the
// request while the app is doing file I/O (poller_active) performs it, directly
// between the host fd and the app's buffer, and marks it done. When the poller
// is idle the app kicks the host (kSyscallFileRingKick, one trap and one exit,
// what every call cost before), which performs the request and wakes the
// poller for the calls that follow. The request is the app's own syscall, done
// for it while it waits: nothing is reordered, read ahead or cached.
//
// Plain data only, like abi.h. The host treats every field as hostile: it takes
// a request by compare-and-swap on `state`, copies it, checks fd and buffer as
// for any forwarded syscall, and only then acts.
#pragma once

#include <stdint.h>

namespace hyperlet::abi {

// syscall(kSyscallFileRing, address, size): hands the host a page-aligned
// FileRing in app memory. 0, or -EINVAL (size, alignment, version, already
// given), -EFAULT (not app memory), -EOPNOTSUPP (hyperlet may use only one CPU:
// the app's waiting and the host's poller would take turns). Linux answers -ENOSYS.
inline constexpr uint64_t kSyscallFileRing = 0x10000003;
// syscall(kSyscallFileRingKick): the host performs a submitted request now and
// starts its poller. Returns 0.
inline constexpr uint64_t kSyscallFileRingKick = 0x10000004;

inline constexpr uint32_t kFileRingFds = 1024;  // guest fds below this may use the ring
inline constexpr uint8_t kFdRegularFile = 1;    // FileRing::fd_flags: host-written

enum FileRequestState : uint32_t {
  kRequestFree = 0,       // the guest may fill it in
  kRequestSubmitted = 1,  // guest: filled in, please perform
  kRequestTaken = 2,      // host: being performed
  kRequestDone = 3,       // host: `result` is the syscall's return value (or -errno)
};

enum FileRequestOp : uint32_t {
  kFileRead = 0,
  kFileWrite = 1,
  kFilePread = 2,
  kFilePwrite = 3,
};

struct FileRequest {
  uint32_t state;  // FileRequestState; changed atomically by both sides
  uint32_t op;     // FileRequestOp
  int32_t fd;
  uint32_t reserved;
  uint64_t buffer;  // guest address
  uint64_t length;
  int64_t offset;  // pread/pwrite only
  int64_t result;
};

struct FileRing {
  uint32_t version;        // guest-written: kFileRingVersion
  uint32_t poller_active;  // host-written: 1 while a host thread polls `request`
  uint8_t reserved[56];
  FileRequest request;  // on its own cache line
  uint8_t reserved2[64 - sizeof(FileRequest) % 64];
  uint8_t fd_flags[kFileRingFds];
  uint8_t padding[4096 - 128 - kFileRingFds];
};

inline constexpr uint32_t kFileRingVersion = 1;

static_assert(sizeof(FileRequest) == 48);
static_assert(sizeof(FileRing) == 4096);

}  // namespace hyperlet::abi
