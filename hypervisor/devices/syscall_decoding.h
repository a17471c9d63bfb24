// strace's renderings of syscall values for --trace: flag words, constants,
// errno results, quoted strings and socket addresses. Pure functions of the
// values and bytes they are given (vm/syscall_trace.cpp reads those from the
// guest), so each is unit-tested without a VM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hyperlet {

// How many bytes of a buffer strace shows by default (its -s 32).
inline constexpr std::size_t kTraceStringLimit = 32;

// "-1 ENOENT (No such file or directory)" for -ENOENT; the value itself
// otherwise, in hex when `address` (mmap, brk).
std::string decode_result(std::int64_t result, bool address = false);

// Flag words: named bits joined with '|', leftover bits in hex ("O_RDONLY|0x40000000").
std::string decode_open_flags(std::uint64_t flags);     // "O_WRONLY|O_CREAT|O_TRUNC"
std::string decode_mmap_prot(std::uint64_t prot);       // "PROT_READ|PROT_WRITE", "PROT_NONE"
std::string decode_mmap_flags(std::uint64_t flags);     // "MAP_PRIVATE|MAP_ANONYMOUS"
std::string decode_socket_type(std::uint64_t type);     // "SOCK_STREAM|SOCK_CLOEXEC"; accept4's "SOCK_CLOEXEC"
std::string decode_fd_flags(std::uint64_t flags);       // pipe2, dup3, eventfd2...: "O_CLOEXEC|O_NONBLOCK", "0"
std::string decode_at_flags(std::uint64_t flags);       // "AT_SYMLINK_NOFOLLOW", "0"
std::string decode_message_flags(std::uint64_t flags);  // "MSG_NOSIGNAL|MSG_DONTWAIT", "0"

// Constants: the name, else the number.
std::string decode_socket_family(std::uint64_t family);   // "AF_INET"
std::string decode_fcntl_command(std::uint64_t command);  // "F_SETFL"
std::string decode_dirfd(std::uint64_t fd);               // "AT_FDCWD", "3"
std::string decode_signal(std::uint64_t signal);          // "SIGTERM"
std::string decode_mode(std::uint64_t mode);              // "0644", "000"

// A string as strace quotes it: C escapes, octal for other unprintable bytes,
// at most `limit` bytes and then `...` after the closing quote when the shown
// bytes are not all there is (`more`, or more bytes than `limit`).
std::string quote_bytes(std::span<const std::byte> bytes, std::size_t limit = kTraceStringLimit, bool more = false);

// A struct sockaddr of this many bytes: "{sa_family=AF_INET, sin_port=htons(80),
// sin_addr=inet_addr("127.0.0.1")}"; the family alone when too short for its kind.
std::string decode_sockaddr(std::span<const std::byte> bytes);

}  // namespace hyperlet
