// strace's renderings of flags, constants, errno results, strings and socket
// addresses (devices/syscall_decoding.cpp).
#include "devices/syscall_decoding.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <csignal>
#include <cstring>
#include <string_view>

namespace hyperlet {
namespace {

std::span<const std::byte> text_bytes(std::string_view text) { return std::as_bytes(std::span(text)); }

template <typename T>
std::span<const std::byte> object_bytes(const T& value) {
  return std::as_bytes(std::span(&value, 1));
}

TEST(DecodeResult, NamesTheErrnoAndItsMessage) {
  EXPECT_EQ(decode_result(-ENOENT), "-1 ENOENT (No such file or directory)");
  EXPECT_EQ(decode_result(-EPIPE), "-1 EPIPE (Broken pipe)");
  EXPECT_EQ(decode_result(-EAGAIN), "-1 EAGAIN (Resource temporarily unavailable)");
}

TEST(DecodeResult, AnErrnoWithoutANameGetsItsNumber) {
  EXPECT_EQ(decode_result(-4000), "-1 ERRNO_4000 (Unknown error 4000)");
}

TEST(DecodeResult, ValuesAreDecimalAndAddressesHex) {
  EXPECT_EQ(decode_result(0), "0");
  EXPECT_EQ(decode_result(1234567), "1234567");
  EXPECT_EQ(decode_result(0x7f0000001000, true), "0x7f0000001000");
  // Below -4095 is not an errno: a value (lseek to a huge offset cannot be negative, but a pointer can).
  EXPECT_EQ(decode_result(-5000), "-5000");
  EXPECT_EQ(decode_result(-ENOMEM, true), "-1 ENOMEM (Cannot allocate memory)");
}

TEST(DecodeOpenFlags, AccessModeFirstThenEachFlag) {
  EXPECT_EQ(decode_open_flags(O_RDONLY), "O_RDONLY");
  EXPECT_EQ(decode_open_flags(O_RDONLY | O_CLOEXEC), "O_RDONLY|O_CLOEXEC");
  EXPECT_EQ(decode_open_flags(O_WRONLY | O_CREAT | O_TRUNC), "O_WRONLY|O_CREAT|O_TRUNC");
  EXPECT_EQ(decode_open_flags(O_RDWR | O_APPEND | O_NONBLOCK), "O_RDWR|O_APPEND|O_NONBLOCK");
  EXPECT_EQ(decode_open_flags(O_RDONLY | O_DIRECTORY | O_NOFOLLOW), "O_RDONLY|O_DIRECTORY|O_NOFOLLOW");
}

TEST(DecodeOpenFlags, MultiBitFlagsAreNamedOnce) {
  // O_SYNC contains O_DSYNC's bit, O_TMPFILE O_DIRECTORY's.
  EXPECT_EQ(decode_open_flags(O_WRONLY | O_SYNC), "O_WRONLY|O_SYNC");
  EXPECT_EQ(decode_open_flags(O_WRONLY | O_DSYNC), "O_WRONLY|O_DSYNC");
  EXPECT_EQ(decode_open_flags(O_RDWR | O_TMPFILE), "O_RDWR|O_TMPFILE");
  EXPECT_EQ(decode_open_flags(0100000), "O_RDONLY|O_LARGEFILE");  // the kernel's value
}

TEST(DecodeOpenFlags, UnknownBitsStayInHex) {
  EXPECT_EQ(decode_open_flags(O_RDONLY | 0x80000000), "O_RDONLY|0x80000000");
  EXPECT_EQ(decode_open_flags(3), "O_ACCMODE");
}

TEST(DecodeMmap, ProtectionsAndFlags) {
  EXPECT_EQ(decode_mmap_prot(PROT_NONE), "PROT_NONE");
  EXPECT_EQ(decode_mmap_prot(PROT_READ | PROT_WRITE), "PROT_READ|PROT_WRITE");
  EXPECT_EQ(decode_mmap_prot(PROT_READ | PROT_EXEC | 0x100), "PROT_READ|PROT_EXEC|0x100");
  EXPECT_EQ(decode_mmap_flags(MAP_PRIVATE | MAP_ANONYMOUS), "MAP_PRIVATE|MAP_ANONYMOUS");
  EXPECT_EQ(decode_mmap_flags(MAP_SHARED | MAP_FIXED), "MAP_SHARED|MAP_FIXED");
  EXPECT_EQ(decode_mmap_flags(MAP_PRIVATE | MAP_FIXED_NOREPLACE), "MAP_PRIVATE|MAP_FIXED_NOREPLACE");
  EXPECT_EQ(decode_mmap_flags(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK),
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_STACK");
  EXPECT_EQ(decode_mmap_flags(0), "0");
}

TEST(DecodeSocket, FamiliesAndTypes) {
  EXPECT_EQ(decode_socket_family(AF_INET), "AF_INET");
  EXPECT_EQ(decode_socket_family(AF_INET6), "AF_INET6");
  EXPECT_EQ(decode_socket_family(AF_UNIX), "AF_UNIX");
  EXPECT_EQ(decode_socket_family(AF_NETLINK), "AF_NETLINK");
  EXPECT_EQ(decode_socket_family(99), "99");
  EXPECT_EQ(decode_socket_type(SOCK_STREAM), "SOCK_STREAM");
  EXPECT_EQ(decode_socket_type(SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK), "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC");
  // accept4's flags carry no type.
  EXPECT_EQ(decode_socket_type(SOCK_CLOEXEC), "SOCK_CLOEXEC");
  EXPECT_EQ(decode_socket_type(0), "0");
  EXPECT_EQ(decode_socket_type(14), "14");
}

TEST(DecodeConstants, FcntlDirfdSignalModeAndFlagWords) {
  EXPECT_EQ(decode_fcntl_command(F_SETFL), "F_SETFL");
  EXPECT_EQ(decode_fcntl_command(F_DUPFD_CLOEXEC), "F_DUPFD_CLOEXEC");
  EXPECT_EQ(decode_fcntl_command(12345), "12345");
  EXPECT_EQ(decode_dirfd(static_cast<std::uint32_t>(AT_FDCWD)), "AT_FDCWD");
  EXPECT_EQ(decode_dirfd(static_cast<std::uint64_t>(std::int64_t{AT_FDCWD})), "AT_FDCWD");
  EXPECT_EQ(decode_dirfd(5), "5");
  EXPECT_EQ(decode_signal(SIGTERM), "SIGTERM");
  EXPECT_EQ(decode_signal(SIGPIPE), "SIGPIPE");
  EXPECT_EQ(decode_signal(0), "0");
  EXPECT_EQ(decode_mode(0644), "0644");
  EXPECT_EQ(decode_mode(07), "007");
  EXPECT_EQ(decode_mode(0), "000");
  EXPECT_EQ(decode_at_flags(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH");
  EXPECT_EQ(decode_at_flags(0), "0");
  EXPECT_EQ(decode_message_flags(MSG_NOSIGNAL | MSG_DONTWAIT), "MSG_DONTWAIT|MSG_NOSIGNAL");
  EXPECT_EQ(decode_fd_flags(O_CLOEXEC | O_NONBLOCK), "O_CLOEXEC|O_NONBLOCK");
  EXPECT_EQ(decode_fd_flags(0), "0");
}

TEST(QuoteBytes, EscapesAsStrace) {
  EXPECT_EQ(quote_bytes(text_bytes("hello\n")), "\"hello\\n\"");
  EXPECT_EQ(quote_bytes(text_bytes("tab\there \"q\" \\ \r")), "\"tab\\there \\\"q\\\" \\\\ \\r\"");
  EXPECT_EQ(quote_bytes(text_bytes("\x1b[0m")), "\"\\33[0m\"");
  // An octal escape followed by an octal digit takes all three digits.
  EXPECT_EQ(quote_bytes(text_bytes(std::string_view("\0"
                                                  "1",
                                                  2))),
            "\"\\0001\"");
  EXPECT_EQ(quote_bytes(text_bytes(std::string_view("\0x", 2))), "\"\\0x\"");
  EXPECT_EQ(quote_bytes(text_bytes("\xff")), "\"\\377\"");
  EXPECT_EQ(quote_bytes(text_bytes("")), "\"\"");
}

TEST(QuoteBytes, TruncatesAtTheLimitWithDots) {
  const std::string long_text(40, 'a');
  EXPECT_EQ(quote_bytes(text_bytes(long_text)), "\"" + std::string(32, 'a') + "\"...");
  EXPECT_EQ(quote_bytes(text_bytes(std::string(32, 'b'))), "\"" + std::string(32, 'b') + "\"");
  EXPECT_EQ(quote_bytes(text_bytes("abc"), 32, true), "\"abc\"...");
  EXPECT_EQ(quote_bytes(text_bytes("abcdef"), 2), "\"ab\"...");
}

TEST(DecodeSockaddr, Inet) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(8080);
  ASSERT_EQ(inet_pton(AF_INET, "127.0.0.1", &address.sin_addr), 1);
  EXPECT_EQ(decode_sockaddr(object_bytes(address)),
            "{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"127.0.0.1\")}");
}

TEST(DecodeSockaddr, Inet6) {
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(443);
  ASSERT_EQ(inet_pton(AF_INET6, "::1", &address.sin6_addr), 1);
  EXPECT_EQ(decode_sockaddr(object_bytes(address)),
            "{sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \"::1\", "
            "&sin6_addr), sin6_scope_id=0}");
}

TEST(DecodeSockaddr, UnixPathsAndAbstractNames) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, "/run/app.sock");
  EXPECT_EQ(decode_sockaddr(object_bytes(address)), "{sa_family=AF_UNIX, sun_path=\"/run/app.sock\"}");
  sockaddr_un abstract{};
  abstract.sun_family = AF_UNIX;
  std::memcpy(abstract.sun_path, "\0name", 5);
  EXPECT_EQ(decode_sockaddr(object_bytes(abstract).first(offsetof(sockaddr_un, sun_path) + 5)),
            "{sa_family=AF_UNIX, sun_path=@\"name\"}");
}

TEST(DecodeSockaddr, ShortOrUnknownShowsTheFamilyOnly) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  EXPECT_EQ(decode_sockaddr(object_bytes(address).first(4)), "{sa_family=AF_INET}");
  EXPECT_EQ(decode_sockaddr(object_bytes(address).first(1)), "{}");
  sockaddr other{};
  other.sa_family = AF_NETLINK;
  EXPECT_EQ(decode_sockaddr(object_bytes(other)), "{sa_family=AF_NETLINK}");
}

}  // namespace
}  // namespace hyperlet
