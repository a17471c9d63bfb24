// The app's half of the file ring (<hyperlet/file_ring.h>): a read/write/pread/
// pwrite of a regular file is put in the shared request and the app waits for
// it in ring 3 while a host thread performs it, so a loop of file reads costs
// no trap and no VM exit per call. When the host's poller is idle, one kick
// (a trap and an exit, what every call cost before) performs the request and
// wakes the poller for the calls that follow.
//
// The ring is handed over after the app's fourth read or write on an fd above
// stderr: an app that reads one small file never pays for it.
#include "hyperlet/file_ring.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

#include "hyperlet/guest.h"
#include "io_paths.h"

namespace {

using hyperlet::abi::FileRing;

constexpr int kAttachAfterCalls = 4;
// Spins (each a `pause`, tens of ns) before asking the host again whether the
// poller still runs; a 1 MiB read takes ~100 µs of copying on the host.
constexpr unsigned kSpinsBeforeRecheck = 1u << 16;

FileRing* g_ring = nullptr;
// Atomic for multi-threaded apps (natively, and in a microVM whose guest kernel
// preempts threads at the end of their time slices).
std::atomic<int> g_calls_before_attach{kAttachAfterCalls};
// One request at a time: held from filling the request to reading its result,
// so another thread never overwrites a request in flight (io_paths.h).
hyperlet::io_paths::YieldingLock g_request_lock;

void attach() {
  if (!hyperlet::in_microvm()) return;
  g_ring = hyperlet::io_paths::share_with_host<FileRing>(hyperlet::abi::kFileRingVersion,
                                                         static_cast<long>(hyperlet::abi::kSyscallFileRing));
}

void kick() { syscall(static_cast<long>(hyperlet::abi::kSyscallFileRingKick)); }

std::uint32_t load(const std::uint32_t& word) { return __atomic_load_n(&word, __ATOMIC_SEQ_CST); }

}  // namespace

namespace hyperlet::io_paths {

bool file_ring_call(std::uint32_t op, int fd, std::uintptr_t buffer, std::size_t length, off_t offset,
                    ssize_t* result) {
  if (fd < 3) return false;
  if (g_ring == nullptr) {
    // Natively this counts down once and stops (attach finds no microVM).
    if (g_calls_before_attach.load(std::memory_order_relaxed) > 0 &&
        g_calls_before_attach.fetch_sub(1, std::memory_order_relaxed) == 1) {
      attach();
    }
    if (g_ring == nullptr) return false;
  }
  if (static_cast<unsigned>(fd) >= abi::kFileRingFds || (g_ring->fd_flags[fd] & abi::kFdRegularFile) == 0) {
    return false;
  }
  const std::lock_guard hold(g_request_lock);
  abi::FileRequest& request = g_ring->request;
  request.op = op;
  request.fd = fd;
  request.buffer = buffer;
  request.length = length;
  request.offset = offset;
  // Store the request, then look at the poller (the host clears poller_active,
  // then looks at the request): one side always sees the other.
  __atomic_store_n(&request.state, abi::kRequestSubmitted, __ATOMIC_SEQ_CST);
  if (load(g_ring->poller_active) == 0) kick();
  for (unsigned spins = 0; load(request.state) != abi::kRequestDone; ++spins) {
    __builtin_ia32_pause();
    if (spins == kSpinsBeforeRecheck) {
      spins = 0;
      if (load(g_ring->poller_active) == 0 && load(request.state) == abi::kRequestSubmitted) kick();
    }
  }
  const std::int64_t value = request.result;
  __atomic_store_n(&request.state, abi::kRequestFree, __ATOMIC_RELEASE);
  if (value < 0) {
    errno = static_cast<int>(-value);
    *result = -1;
  } else {
    *result = static_cast<ssize_t>(value);
  }
  return true;
}

}  // namespace hyperlet::io_paths
