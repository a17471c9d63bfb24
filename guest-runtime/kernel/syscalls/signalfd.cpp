// signalfd and signalfd4. The fd is an ordinary app fd on the host, an eventfd
// (abi::kSyscallSignalfd), so that close, fcntl, poll, select and epoll treat it
// as any fd; the guest kernel keeps that eventfd readable exactly while a
// signal the signalfd watches is pending (abi::kSyscallSignalfdReady):
// - when a watched signal becomes pending (send: signalfd_signal_queued), so a
//   poll or epoll wait parked on the host, or the host's watcher, sees it;
// - before every forwarded poll, select or epoll wait (signalfd_sync), which
//   also clears a stale readiness after the signal was taken elsewhere.
// Reads (read and readv) are answered here from the pending sets as Linux's
// signalfd_read: as many signalfd_siginfo records as fit, waiting for the
// first unless the fd is non-blocking (F_GETFL asked of the host, which keeps
// the flag fcntl set). A dup of a signalfd (dup, dup2, dup3, fcntl F_DUPFD) is
// the same signalfd: an entry of its own for the new fd, sharing the first
// one's description, so that a mask change through either applies to both.
// An fd without O_CLOEXEC stays a signalfd across exec (abi::ExecCarried).
#include <asm/unistd_64.h>

#include "../errno.h"
#include "../signal_state.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr int kMaxSignalfds = 32;
constexpr uint64_t kSigsetSize = 8;
constexpr uint64_t kOCloexec = 02000000;
constexpr uint64_t kONonblock = 04000;
constexpr uint64_t kGetFlags = 3;      // F_GETFL
constexpr uint64_t kRecordSize = 128;  // struct signalfd_siginfo
constexpr int32_t kSiTimer = -2;
constexpr uint64_t kDupFd = 0;            // F_DUPFD
constexpr uint64_t kDupFdCloexec = 1030;  // F_DUPFD_CLOEXEC
constexpr uint64_t kMaxIovecs = 1024;     // UIO_MAXIOV

struct Signalfd {
  int64_t fd;            // -1: free
  uint64_t description;  // shared by an fd and its dups
  uint64_t mask;
  bool readable;  // what the host's eventfd was last told
};

Signalfd signalfds[kMaxSignalfds];  // .bss; every fd set to -1 by the first signalfd
bool initialised;
int open_count;  // entries in use: 0 means nothing here costs anything
uint64_t next_description = 1;

Signalfd* free_entry() {
  if (!initialised) {
    for (Signalfd& entry : signalfds) entry = Signalfd{-1, 0, 0, false};
    initialised = true;
  }
  for (Signalfd& entry : signalfds) {
    if (entry.fd < 0) return &entry;
  }
  return nullptr;
}

Signalfd* find(uint64_t fd) {
  if (open_count == 0) return nullptr;
  for (Signalfd& entry : signalfds) {
    if (entry.fd >= 0 && static_cast<uint64_t>(entry.fd) == fd) return &entry;
  }
  return nullptr;
}

uint64_t pending_for_current() { return current_signals().pending | process_signals.pending; }

void tell_host(Signalfd& entry, bool readable) {
  if (entry.readable == readable) return;
  entry.readable = readable;
  const uint64_t args[6] = {static_cast<uint64_t>(entry.fd), readable ? 1u : 0u, 0, 0, 0, 0};
  kernel_call_to_host(abi::kSyscallSignalfdReady, args);
}

// SignalState.handled gets the watched signals too: one sent to hyperlet
// (SIGTERM...) reaches the app's signalfd instead of stopping the run.
void publish_watched() {
  uint64_t watched = 0;
  for (const Signalfd& entry : signalfds) {
    if (entry.fd >= 0) watched |= entry.mask;
  }
  set_signalfd_watched(watched);
}

void write_record(uint8_t* out, uint64_t signal, const PendingInfo& info) {
  for (uint64_t i = 0; i < kRecordSize; ++i) out[i] = 0;
  const bool timer = info.code == kSiTimer;
  constexpr uint64_t kSigchld = 17;
  const bool child = signal == kSigchld && info.code > 0;  // CLD_EXITED and the others: from the host
  const uint32_t words[12] = {
      static_cast<uint32_t>(signal),                  // ssi_signo
      0,                                              // ssi_errno
      static_cast<uint32_t>(info.code),               // ssi_code
      timer ? 0 : static_cast<uint32_t>(info.pid),    // ssi_pid
      timer ? 0 : static_cast<uint32_t>(info.uid),    // ssi_uid
      0,                                              // ssi_fd
      timer ? static_cast<uint32_t>(info.pid) : 0,    // ssi_tid: the timer's id
      0,                                              // ssi_band
      timer ? static_cast<uint32_t>(info.uid) : 0,    // ssi_overrun
      0,                                              // ssi_trapno
      child ? static_cast<uint32_t>(info.value) : 0,  // ssi_status
      child ? 0 : static_cast<uint32_t>(info.value),  // ssi_int
  };
  const auto* bytes = reinterpret_cast<const uint8_t*>(words);
  for (uint64_t i = 0; i < sizeof(words); ++i) out[i] = bytes[i];
  const auto* pointer = reinterpret_cast<const uint8_t*>(&info.value);
  if (!child) {
    for (uint64_t i = 0; i < sizeof(info.value); ++i) out[48 + i] = pointer[i];  // ssi_ptr
  }
}

// Where records go: the app's buffer, or its iovecs (readv), 128 bytes each,
// a record split across iovecs as Linux's copy_to_iter splits it.
struct Output {
  struct Piece {
    uint8_t* data;
    uint64_t length;
  };
  static constexpr int kMaxPieces = 16;
  Piece pieces[kMaxPieces];
  int count = 0;
  uint64_t total = 0;
  int at = 0;           // piece being written
  uint64_t offset = 0;  // within it

  void put(const uint8_t* record) {
    for (uint64_t done = 0; done < kRecordSize && at < count;) {
      const uint64_t room = pieces[at].length - offset;
      const uint64_t part = room < kRecordSize - done ? room : kRecordSize - done;
      for (uint64_t i = 0; i < part; ++i) pieces[at].data[offset + i] = record[done + i];
      done += part;
      offset += part;
      if (offset == pieces[at].length) {
        ++at;
        offset = 0;
      }
    }
  }
};

int64_t read_records(Signalfd* entry, uint64_t fd, Output& out) {
  if (out.total < kRecordSize) return error(EINVAL);
  const uint64_t records = out.total / kRecordSize;
  ThreadSignals& self = current_signals();
  uint64_t taken = 0;
  for (;;) {
    const uint64_t mask = entry->mask;
    while (taken < records) {
      const uint64_t ready = pending_for_current() & mask;
      if (ready == 0) break;
      const uint64_t signal = static_cast<uint64_t>(__builtin_ctzll(ready)) + 1;
      uint8_t record[kRecordSize];
      write_record(record, signal, take_signal(signal));
      out.put(record);
      ++taken;
    }
    if (taken != 0) break;
    const uint64_t get_flags[6] = {fd, kGetFlags, 0, 0, 0, 0};
    const int64_t file_flags = forward_to_host(__NR_fcntl, get_flags);
    if (file_flags >= 0 && (file_flags & static_cast<int64_t>(kONonblock)) != 0) return error(EAGAIN);
    // Waits as rt_sigtimedwait does: the watched signals pick this thread.
    if (const int64_t interrupted = signal_interrupts_wait(__NR_read); interrupted != 0) return interrupted;
    self.waiting_for = mask;
    wait_for_signal();
    self.waiting_for = 0;
    self.restart_armed = false;
    if (find(fd) != entry) return error(EBADF);  // closed meanwhile by another thread
  }
  update_signal_attention();
  for (Signalfd& other : signalfds) {
    if (other.fd >= 0) tell_host(other, (pending_for_current() & other.mask) != 0);
  }
  return static_cast<int64_t>(taken * kRecordSize);
}

void forget(uint64_t fd) {
  if (open_count == 0) return;
  for (Signalfd& entry : signalfds) {
    if (entry.fd >= 0 && static_cast<uint64_t>(entry.fd) == fd) {
      entry = Signalfd{-1, 0, 0, false};
      --open_count;
      set_direct_forward_blocker(DirectForwardBlocker::kSignalfds, open_count != 0);
      publish_watched();
    }
  }
}

// `copy` (a new fd from the host) is a dup of the signalfd `original`.
void remember_dup(uint64_t original, int64_t copy) {
  const Signalfd* source = find(original);
  if (source == nullptr || copy < 0 || static_cast<uint64_t>(copy) == original) return;
  forget(static_cast<uint64_t>(copy));
  Signalfd* slot = free_entry();
  if (slot == nullptr) return;  // beyond kMaxSignalfds the copy reads as the host's eventfd
  *slot = Signalfd{copy, source->description, source->mask, source->readable};
  ++open_count;
  set_direct_forward_blocker(DirectForwardBlocker::kSignalfds, open_count != 0);
}

}  // namespace

int64_t sys_signalfd4(uint64_t fd, uint64_t mask, uint64_t size, uint64_t flags) {
  if ((flags & ~(kOCloexec | kONonblock)) != 0) return error(EINVAL);
  if (size != kSigsetSize) return error(EINVAL);
  const auto* in = user_pointer<uint64_t>(mask);
  if (in == nullptr) return error(EFAULT);
  const uint64_t watched = *in & ~kUnblockable;
  if (static_cast<int32_t>(fd) != -1) {  // an int, as Linux reads it
    Signalfd* entry = find(fd);
    if (entry == nullptr) return error(EINVAL);  // Linux: not a signalfd (EBADF if no fd at all)
    const uint64_t description = entry->description;
    for (Signalfd& same : signalfds) {
      if (same.fd >= 0 && same.description == description) same.mask = watched;
    }
    publish_watched();
    tell_host(*entry, (pending_for_current() & watched) != 0);
    return static_cast<int64_t>(fd);
  }
  Signalfd* slot = free_entry();
  if (slot == nullptr) return error(EMFILE);
  const uint64_t args[6] = {flags, 0, 0, 0, 0, 0};
  const int64_t made = kernel_call_to_host(abi::kSyscallSignalfd, args);
  if (made < 0) return made;
  *slot = Signalfd{made, next_description++, watched, false};
  ++open_count;
  set_direct_forward_blocker(DirectForwardBlocker::kSignalfds, open_count != 0);
  publish_watched();
  tell_host(*slot, (pending_for_current() & watched) != 0);
  return made;
}

bool signalfd_read(uint64_t fd, uint64_t buffer, uint64_t length, int64_t& result) {
  Signalfd* entry = find(fd);
  if (entry == nullptr) return false;
  Output out;
  out.total = length;
  if (length >= kRecordSize) {
    const uint64_t whole = length / kRecordSize * kRecordSize;
    auto* data = user_pointer<uint8_t>(buffer, whole);
    if (data == nullptr) {
      result = error(EFAULT);
      return true;
    }
    out.pieces[0] = Output::Piece{data, whole};
    out.count = 1;
  }
  result = read_records(entry, fd, out);
  return true;
}

bool signalfd_readv(uint64_t fd, uint64_t iovecs, uint64_t count, int64_t& result) {
  Signalfd* entry = find(fd);
  if (entry == nullptr) return false;
  if (count > kMaxIovecs) {
    result = error(EINVAL);
    return true;
  }
  struct UserIovec {
    uint64_t base;
    uint64_t length;
  };
  const auto* vectors = user_pointer<UserIovec>(iovecs, count);
  if (count != 0 && vectors == nullptr) {
    result = error(EFAULT);
    return true;
  }
  Output out;
  for (uint64_t i = 0; i < count; ++i) {
    if (vectors[i].length == 0) continue;
    if (static_cast<int64_t>(vectors[i].length) < 0) {
      result = error(EINVAL);
      return true;
    }
    auto* data = user_pointer<uint8_t>(vectors[i].base, vectors[i].length);
    if (data == nullptr) {
      result = error(EFAULT);
      return true;
    }
    // Beyond kMaxPieces iovecs only the first ones are filled: a shorter read, as allowed.
    if (out.count < Output::kMaxPieces) {
      out.pieces[out.count++] = Output::Piece{data, vectors[i].length};
      out.total += vectors[i].length;
    }
  }
  result = read_records(entry, fd, out);
  return true;
}

void signalfd_after_forward(uint64_t number, const uint64_t (&args)[6], int64_t result) {
  if (result < 0) return;
  switch (number) {
    case __NR_dup:
    case __NR_dup2:
    case __NR_dup3:
      return remember_dup(args[0], result);
    case __NR_fcntl:
      if (args[1] == kDupFd || args[1] == kDupFdCloexec) remember_dup(args[0], result);
      return;
    default:
      return;
  }
}

void signalfd_before_forward(uint64_t number, const uint64_t (&args)[6]) {
  switch (number) {
    case __NR_close:
      return forget(args[0]);
    case __NR_dup2:
    case __NR_dup3:
      if (args[0] != args[1]) forget(args[1]);  // the target fd now names another file
      return;
    case __NR_poll:
    case __NR_ppoll:
    case __NR_select:
    case __NR_pselect6:
    case __NR_epoll_wait:
    case __NR_epoll_pwait:
    case __NR_epoll_pwait2:
      return signalfd_sync();
    default:
      return;
  }
}

void signalfd_sync() {
  if (open_count == 0) return;
  for (Signalfd& entry : signalfds) {
    if (entry.fd >= 0) tell_host(entry, (pending_for_current() & entry.mask) != 0);
  }
}

void signalfd_signal_queued(uint64_t signal) {
  if (open_count == 0) return;
  for (Signalfd& entry : signalfds) {
    if (entry.fd >= 0 && (entry.mask & signal_bit(signal)) != 0) tell_host(entry, true);
  }
}

bool signalfds_open() { return open_count != 0; }

uint32_t signalfds_for_exec(abi::ExecSignalfd* out, uint32_t capacity) {
  uint32_t count = 0;
  if (open_count == 0) return 0;
  for (const Signalfd& entry : signalfds) {
    if (entry.fd < 0 || count == capacity) continue;
    out[count++] = abi::ExecSignalfd{entry.fd, entry.mask, entry.description};
  }
  return count;
}

void signalfds_after_exec(const abi::ExecSignalfd* in, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) {
    if (in[i].fd < 0 || find(static_cast<uint64_t>(in[i].fd)) != nullptr) continue;
    Signalfd* slot = free_entry();
    if (slot == nullptr) break;
    // The host emptied each carried fd's eventfd: not readable until told.
    *slot = Signalfd{in[i].fd, in[i].description, in[i].mask & ~kUnblockable, false};
    if (in[i].description >= next_description) next_description = in[i].description + 1;
    ++open_count;
  }
  if (open_count == 0) return;
  set_direct_forward_blocker(DirectForwardBlocker::kSignalfds, true);
  publish_watched();
  signalfd_sync();
}

}  // namespace hyperlet::kernel
