#include "devices/syscall_decoding.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <initializer_list>
#include <string_view>

namespace hyperlet {
namespace {

struct Named {
  std::uint64_t value;
  std::string_view name;
};

// Bits named in table order (multi-bit names such as O_SYNC come before the bits
// they contain), leftovers in hex. `zero` is the rendering of no bits at all.
std::string join_flags(std::uint64_t flags, std::initializer_list<Named> names, std::string prefix = {},
                       std::string_view zero = "0") {
  std::string text = std::move(prefix);
  for (const Named& entry : names) {
    if (entry.value == 0 || (flags & entry.value) != entry.value) continue;
    if (!text.empty()) text += '|';
    text += entry.name;
    flags &= ~entry.value;
  }
  if (flags != 0) text += fmt::format("{}{:#x}", text.empty() ? "" : "|", flags);
  return text.empty() ? std::string(zero) : text;
}

std::string constant(std::uint64_t value, std::initializer_list<Named> names) {
  for (const Named& entry : names) {
    if (entry.value == value) return std::string(entry.name);
  }
  return fmt::format("{}", static_cast<std::int64_t>(value));
}

// Linux's values, which glibc's headers hide or define as 0 on x86-64.
constexpr std::uint64_t kKernelLargeFile = 0100000;
constexpr std::uint64_t kTmpFile = 020200000;

}  // namespace

std::string decode_result(std::int64_t result, bool address) {
  if (result < 0 && result >= -4095) {
    const int code = static_cast<int>(-result);
    const char* name = strerrorname_np(code);
    return fmt::format("-1 {} ({})", name != nullptr ? std::string(name) : fmt::format("ERRNO_{}", code),
                       std::strerror(code));
  }
  if (address) return fmt::format("{:#x}", static_cast<std::uint64_t>(result));
  return fmt::format("{}", result);
}

std::string decode_open_flags(std::uint64_t flags) {
  std::string access;
  switch (flags & O_ACCMODE) {
    case O_RDONLY:
      access = "O_RDONLY";
      break;
    case O_WRONLY:
      access = "O_WRONLY";
      break;
    case O_RDWR:
      access = "O_RDWR";
      break;
    default:
      access = "O_ACCMODE";
      break;
  }
  return join_flags(flags & ~std::uint64_t{O_ACCMODE},
                    {{kTmpFile, "O_TMPFILE"},
                     {O_SYNC, "O_SYNC"},
                     {O_CREAT, "O_CREAT"},
                     {O_EXCL, "O_EXCL"},
                     {O_NOCTTY, "O_NOCTTY"},
                     {O_TRUNC, "O_TRUNC"},
                     {O_APPEND, "O_APPEND"},
                     {O_NONBLOCK, "O_NONBLOCK"},
                     {O_DSYNC, "O_DSYNC"},
                     {O_ASYNC, "O_ASYNC"},
                     {O_DIRECT, "O_DIRECT"},
                     {kKernelLargeFile, "O_LARGEFILE"},
                     {O_DIRECTORY, "O_DIRECTORY"},
                     {O_NOFOLLOW, "O_NOFOLLOW"},
                     {O_NOATIME, "O_NOATIME"},
                     {O_CLOEXEC, "O_CLOEXEC"},
                     {O_PATH, "O_PATH"}},
                    access);
}

std::string decode_mmap_prot(std::uint64_t prot) {
  return join_flags(prot,
                    {{PROT_READ, "PROT_READ"},
                     {PROT_WRITE, "PROT_WRITE"},
                     {PROT_EXEC, "PROT_EXEC"},
                     {PROT_GROWSDOWN, "PROT_GROWSDOWN"},
                     {PROT_GROWSUP, "PROT_GROWSUP"}},
                    {}, "PROT_NONE");
}

std::string decode_mmap_flags(std::uint64_t flags) {
  // The low bits are one mapping type, not flags.
  std::string type;
  switch (flags & MAP_TYPE) {
    case MAP_SHARED:
      type = "MAP_SHARED";
      break;
    case MAP_PRIVATE:
      type = "MAP_PRIVATE";
      break;
    case MAP_SHARED_VALIDATE:
      type = "MAP_SHARED_VALIDATE";
      break;
    case 0:
      break;
    default:
      type = fmt::format("{:#x}", flags & MAP_TYPE);
      break;
  }
  return join_flags(flags & ~std::uint64_t{MAP_TYPE},
                    {{MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"},
                     {MAP_FIXED, "MAP_FIXED"},
                     {MAP_ANONYMOUS, "MAP_ANONYMOUS"},
                     {MAP_32BIT, "MAP_32BIT"},
                     {MAP_GROWSDOWN, "MAP_GROWSDOWN"},
                     {MAP_DENYWRITE, "MAP_DENYWRITE"},
                     {MAP_EXECUTABLE, "MAP_EXECUTABLE"},
                     {MAP_LOCKED, "MAP_LOCKED"},
                     {MAP_NORESERVE, "MAP_NORESERVE"},
                     {MAP_POPULATE, "MAP_POPULATE"},
                     {MAP_NONBLOCK, "MAP_NONBLOCK"},
                     {MAP_STACK, "MAP_STACK"},
                     {MAP_HUGETLB, "MAP_HUGETLB"},
                     {MAP_SYNC, "MAP_SYNC"}},
                    type);
}

std::string decode_socket_type(std::uint64_t type) {
  constexpr std::uint64_t kTypeMask = 0xf;
  const std::string base = constant(type & kTypeMask, {{SOCK_STREAM, "SOCK_STREAM"},
                                                       {SOCK_DGRAM, "SOCK_DGRAM"},
                                                       {SOCK_RAW, "SOCK_RAW"},
                                                       {SOCK_RDM, "SOCK_RDM"},
                                                       {SOCK_SEQPACKET, "SOCK_SEQPACKET"},
                                                       {SOCK_DCCP, "SOCK_DCCP"},
                                                       {SOCK_PACKET, "SOCK_PACKET"}});
  // accept4's flags have no type: the flags alone.
  const bool flags_only = (type & kTypeMask) == 0 && type != 0;
  return join_flags(type & ~kTypeMask, {{SOCK_NONBLOCK, "SOCK_NONBLOCK"}, {SOCK_CLOEXEC, "SOCK_CLOEXEC"}},
                    flags_only ? std::string() : base);
}

std::string decode_fd_flags(std::uint64_t flags) {
  return join_flags(flags, {{O_CLOEXEC, "O_CLOEXEC"}, {O_NONBLOCK, "O_NONBLOCK"}, {O_DIRECT, "O_DIRECT"}});
}

std::string decode_at_flags(std::uint64_t flags) {
  return join_flags(flags, {{AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
                            {AT_REMOVEDIR, "AT_REMOVEDIR"},
                            {AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"},
                            {AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT"},
                            {AT_EMPTY_PATH, "AT_EMPTY_PATH"}});
}

std::string decode_message_flags(std::uint64_t flags) {
  return join_flags(flags, {{MSG_OOB, "MSG_OOB"},
                            {MSG_PEEK, "MSG_PEEK"},
                            {MSG_DONTROUTE, "MSG_DONTROUTE"},
                            {MSG_CTRUNC, "MSG_CTRUNC"},
                            {MSG_TRUNC, "MSG_TRUNC"},
                            {MSG_DONTWAIT, "MSG_DONTWAIT"},
                            {MSG_EOR, "MSG_EOR"},
                            {MSG_WAITALL, "MSG_WAITALL"},
                            {MSG_CONFIRM, "MSG_CONFIRM"},
                            {MSG_ERRQUEUE, "MSG_ERRQUEUE"},
                            {MSG_NOSIGNAL, "MSG_NOSIGNAL"},
                            {MSG_MORE, "MSG_MORE"},
                            {MSG_WAITFORONE, "MSG_WAITFORONE"},
                            {MSG_FASTOPEN, "MSG_FASTOPEN"},
                            {MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC"}});
}

std::string decode_socket_family(std::uint64_t family) {
  return constant(family, {{AF_UNSPEC, "AF_UNSPEC"},
                           {AF_UNIX, "AF_UNIX"},
                           {AF_INET, "AF_INET"},
                           {AF_INET6, "AF_INET6"},
                           {AF_NETLINK, "AF_NETLINK"},
                           {AF_PACKET, "AF_PACKET"},
                           {AF_VSOCK, "AF_VSOCK"}});
}

std::string decode_fcntl_command(std::uint64_t command) {
  return constant(command, {{F_DUPFD, "F_DUPFD"},
                            {F_GETFD, "F_GETFD"},
                            {F_SETFD, "F_SETFD"},
                            {F_GETFL, "F_GETFL"},
                            {F_SETFL, "F_SETFL"},
                            {F_GETLK, "F_GETLK"},
                            {F_SETLK, "F_SETLK"},
                            {F_SETLKW, "F_SETLKW"},
                            {F_SETOWN, "F_SETOWN"},
                            {F_GETOWN, "F_GETOWN"},
                            {F_OFD_GETLK, "F_OFD_GETLK"},
                            {F_OFD_SETLK, "F_OFD_SETLK"},
                            {F_OFD_SETLKW, "F_OFD_SETLKW"},
                            {F_DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC"},
                            {F_SETPIPE_SZ, "F_SETPIPE_SZ"},
                            {F_GETPIPE_SZ, "F_GETPIPE_SZ"},
                            {F_ADD_SEALS, "F_ADD_SEALS"},
                            {F_GET_SEALS, "F_GET_SEALS"}});
}

std::string decode_dirfd(std::uint64_t fd) {
  const auto value = static_cast<std::int32_t>(fd);
  return value == AT_FDCWD ? "AT_FDCWD" : fmt::format("{}", value);
}

std::string decode_signal(std::uint64_t signal) {
  const char* name = signal > 0 && signal < 65 ? sigabbrev_np(static_cast<int>(signal)) : nullptr;
  if (name != nullptr) return fmt::format("SIG{}", name);
  if (signal >= 32 && signal < 65) return fmt::format("SIGRT_{}", signal - 32);
  return fmt::format("{}", static_cast<std::int64_t>(signal));
}

// As strace's %#03o: a leading 0, at least three digits ("000", "007", "0644").
std::string decode_mode(std::uint64_t mode) {
  return fmt::format("{:0>3}", mode == 0 ? std::string("0") : fmt::format("0{:o}", mode));
}

std::string quote_bytes(std::span<const std::byte> bytes, std::size_t limit, bool more) {
  const std::size_t shown = std::min(bytes.size(), limit);
  std::string text = "\"";
  for (std::size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    switch (c) {
      case '\t':
        text += "\\t";
        continue;
      case '\n':
        text += "\\n";
        continue;
      case '\v':
        text += "\\v";
        continue;
      case '\f':
        text += "\\f";
        continue;
      case '\r':
        text += "\\r";
        continue;
      case '"':
        text += "\\\"";
        continue;
      case '\\':
        text += "\\\\";
        continue;
      default:
        break;
    }
    if (c >= 0x20 && c < 0x7f) {
      text += static_cast<char>(c);
      continue;
    }
    // As strace: the shortest octal, unless an octal digit follows and would join it.
    const bool digit_follows =
        i + 1 < shown && static_cast<char>(bytes[i + 1]) >= '0' && static_cast<char>(bytes[i + 1]) <= '7';
    text += digit_follows ? fmt::format("\\{:03o}", c) : fmt::format("\\{:o}", c);
  }
  text += '"';
  if (more || bytes.size() > limit) text += "...";
  return text;
}

std::string decode_sockaddr(std::span<const std::byte> bytes) {
  sa_family_t family = 0;
  if (bytes.size() < sizeof family) return "{}";
  std::memcpy(&family, bytes.data(), sizeof family);
  const std::string family_text = "{sa_family=" + decode_socket_family(family);
  if (family == AF_INET && bytes.size() >= sizeof(sockaddr_in)) {
    sockaddr_in address{};
    std::memcpy(&address, bytes.data(), sizeof address);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
    return fmt::format("{}, sin_port=htons({}), sin_addr=inet_addr(\"{}\")}}", family_text, ntohs(address.sin_port),
                       text);
  }
  if (family == AF_INET6 && bytes.size() >= sizeof(sockaddr_in6)) {
    sockaddr_in6 address{};
    std::memcpy(&address, bytes.data(), sizeof address);
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, &address.sin6_addr, text, sizeof text);
    return fmt::format(
        "{}, sin6_port=htons({}), sin6_flowinfo=htonl({}), inet_pton(AF_INET6, \"{}\", &sin6_addr), "
        "sin6_scope_id={}}}",
        family_text, ntohs(address.sin6_port), ntohl(address.sin6_flowinfo), text, address.sin6_scope_id);
  }
  if (family == AF_UNIX && bytes.size() > sizeof family) {
    auto path = bytes.subspan(sizeof family, std::min(bytes.size() - sizeof family, sizeof(sockaddr_un::sun_path)));
    // An abstract name starts with a NUL; strace marks it with '@'.
    const bool abstract = path[0] == std::byte{0};
    if (abstract) path = path.subspan(1);
    std::size_t length = 0;
    while (length < path.size() && (abstract || path[length] != std::byte{0})) ++length;
    return fmt::format("{}, sun_path={}{}}}", family_text, abstract ? "@" : "",
                       quote_bytes(path.first(length), sizeof(sockaddr_un::sun_path)));
  }
  return family_text + "}";
}

}  // namespace hyperlet
