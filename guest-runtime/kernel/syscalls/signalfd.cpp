// signalfd and signalfd4. The fd is an ordinary app fd on the host, an eventfd
// (abi::kSyscallSignalfd), so that close, fcntl, poll, select and epoll treat it
// as any fd; the guest kernel keeps that eventfd readable exactly while a
// signal the signalfd watches is pending (abi::kSyscallSignalfdReady):
// - when a watched signal becomes pending (send: signalfd_signal_queued), so a
//   poll or epoll wait parked on the host, or the host's watcher, sees it;
// - before every forwarded poll, select or epoll wait (signalfd_sync), which
//   also clears a stale readiness after the signal was taken elsewhere.
// Reads (read; readv is not intercepted) are answered here from the pending
// sets as Linux's signalfd_read: as many signalfd_siginfo records as fit,
// waiting for the first unless the fd is non-blocking (F_GETFL asked of the
// host, which keeps the flag fcntl set). A dup of a signalfd reads as the
// eventfd it is on the host: only the fd signalfd returned is known here.
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

struct Signalfd {
  int64_t fd;  // -1: free
  uint64_t mask;
  bool readable;  // what the host's eventfd was last told
};

Signalfd signalfds[kMaxSignalfds];  // .bss; every fd set to -1 by the first signalfd
bool initialised;
int open_count;  // entries in use: 0 means nothing here costs anything

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
  const uint32_t words[12] = {
      static_cast<uint32_t>(signal),                // ssi_signo
      0,                                            // ssi_errno
      static_cast<uint32_t>(info.code),             // ssi_code
      timer ? 0 : static_cast<uint32_t>(info.pid),  // ssi_pid
      timer ? 0 : static_cast<uint32_t>(info.uid),  // ssi_uid
      0,                                            // ssi_fd
      timer ? static_cast<uint32_t>(info.pid) : 0,  // ssi_tid: the timer's id
      0,                                            // ssi_band
      timer ? static_cast<uint32_t>(info.uid) : 0,  // ssi_overrun
      0,                                            // ssi_trapno
      0,                                            // ssi_status
      static_cast<uint32_t>(info.value),            // ssi_int
  };
  const auto* bytes = reinterpret_cast<const uint8_t*>(words);
  for (uint64_t i = 0; i < sizeof(words); ++i) out[i] = bytes[i];
  const auto* pointer = reinterpret_cast<const uint8_t*>(&info.value);
  for (uint64_t i = 0; i < sizeof(info.value); ++i) out[48 + i] = pointer[i];  // ssi_ptr
}

int64_t read_records(Signalfd* entry, uint64_t fd, uint64_t buffer, uint64_t length) {
  if (length < kRecordSize) return error(EINVAL);
  const uint64_t records = length / kRecordSize;
  auto* out = user_pointer<uint8_t>(buffer, records * kRecordSize);
  if (out == nullptr) return error(EFAULT);
  ThreadSignals& self = current_signals();
  uint64_t taken = 0;
  for (;;) {
    const uint64_t mask = entry->mask;
    while (taken < records) {
      const uint64_t ready = pending_for_current() & mask;
      if (ready == 0) break;
      const uint64_t signal = static_cast<uint64_t>(__builtin_ctzll(ready)) + 1;
      write_record(out + taken * kRecordSize, signal, take_signal(signal));
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
      entry = Signalfd{-1, 0, false};
      --open_count;
      publish_watched();
    }
  }
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
    entry->mask = watched;
    publish_watched();
    tell_host(*entry, (pending_for_current() & watched) != 0);
    return static_cast<int64_t>(fd);
  }
  if (!initialised) {
    for (Signalfd& entry : signalfds) entry = Signalfd{-1, 0, false};
    initialised = true;
  }
  Signalfd* slot = nullptr;
  for (Signalfd& entry : signalfds) {
    if (entry.fd < 0) {
      slot = &entry;
      break;
    }
  }
  if (slot == nullptr) return error(EMFILE);
  const uint64_t args[6] = {flags, 0, 0, 0, 0, 0};
  const int64_t made = kernel_call_to_host(abi::kSyscallSignalfd, args);
  if (made < 0) return made;
  *slot = Signalfd{made, watched, false};
  ++open_count;
  publish_watched();
  tell_host(*slot, (pending_for_current() & watched) != 0);
  return made;
}

bool signalfd_read(uint64_t fd, uint64_t buffer, uint64_t length, int64_t& result) {
  Signalfd* entry = find(fd);
  if (entry == nullptr) return false;
  result = read_records(entry, fd, buffer, length);
  return true;
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

}  // namespace hyperlet::kernel
