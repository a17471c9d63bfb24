// The guest library's ways around the trap for I/O (internal): socket buffers
// (socket_buffers.cpp) and the file ring (file_ring.cpp). libc_overrides.cpp
// tries them in front of glibc's read/write/...; each answers "not mine" when
// the fd or the call does not qualify, and the call then takes the trap path.
#pragma once

#include <sched.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace hyperlet::io_paths {

// Guards the updates of one shared area (the file ring's request, the socket
// buffers) against the app's other threads. The guest kernel preempts a thread
// at the end of its time slice anywhere in ring 3, so without it a second
// thread could find a half-written request or deferred write. Uncontended it
// is one atomic exchange and one store (tens of ns in ring 3); a thread that
// finds it taken yields its slice (sched_yield), and round robin soon runs the
// holder again, which needs no kernel help to finish: nothing in a guarded
// section blocks on another app thread. (A flag the kernel checks before it
// switches would cost the same uncontended, but would add ring-0 work, ~0.3 µs
// an instruction on kvm_pvm, to every slice end and an ABI between the library
// and the kernel; a lock keeps preemption unaware of the library.)
class YieldingLock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) sched_yield();
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// Maps a zeroed Shared (whose first field is `version`), hands it to the host
// with `syscall(number, address, size)` and returns it; nullptr when the host
// refuses (an older hyperlet, too little memory): then the trap path it is.
// errno is left as the app had it.
void* share_with_host(std::size_t size, std::uint32_t version, long number);
template <typename Shared>
Shared* share_with_host(std::uint32_t version, long number) {
  return static_cast<Shared*>(share_with_host(sizeof(Shared), version, number));
}

// Socket buffers: hands them to the host (at the app's first epoll_wait, accept or connect).
void attach_socket_buffers_once();
// Stashed input of a connection, or -1 when there is none.
ssize_t take_socket_input(int fd, void* buffer, std::size_t count, bool peek);
// Appends a deferred write; false when the fd or the size does not qualify.
bool defer_socket_write(int fd, const struct iovec* parts, int count, std::size_t total);

// File ring: performs a read/write/pread/pwrite (abi::FileRequestOp) of a
// regular file through the ring; false when the fd does not qualify. *result
// is what the libc function returns (errno set on -1).
// The buffer goes as an address: the host reads or writes it, never this code.
bool file_ring_call(std::uint32_t op, int fd, std::uintptr_t buffer, std::size_t length, off_t offset, ssize_t* result);

}  // namespace hyperlet::io_paths
