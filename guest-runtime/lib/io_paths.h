// The guest library's ways around the trap for I/O (internal): socket buffers
// (socket_buffers.cpp) and the file ring (file_ring.cpp). libc_overrides.cpp
// tries them in front of glibc's read/write/...; each answers "not mine" when
// the fd or the call does not qualify, and the call then takes the trap path.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace hyperlet::io_paths {

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
