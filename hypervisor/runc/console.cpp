#include "runc/console.h"

#include <fcntl.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hyperlet::runc {

Result<UniqueFd> open_console(const std::string& socket_path) {
  int master = -1, slave = -1;
  if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) {
    return fail(ExitStatus::kUsage, "cannot open a terminal: {}", std::strerror(errno));
  }
  UniqueFd master_fd(master), slave_fd(slave);
  ::fcntl(slave, F_SETFD, FD_CLOEXEC);
  char name[128] = {};
  ::ptsname_r(master, name, sizeof name);

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) {
    return fail(ExitStatus::kUsage, "--console-socket {}: path too long", socket_path);
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size());
  UniqueFd connection(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!connection.valid() ||
      ::connect(connection.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return fail(ExitStatus::kUsage, "cannot connect to --console-socket {}: {}", socket_path, std::strerror(errno));
  }
  // The payload is the terminal's name, as runc sends it; the master rides along.
  iovec payload{name, std::strlen(name)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &payload;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &master, sizeof master);
  if (::sendmsg(connection.get(), &message, 0) < 0) {
    return fail(ExitStatus::kUsage, "cannot send the terminal to --console-socket {}: {}", socket_path,
                std::strerror(errno));
  }
  return slave_fd;
}

bool attach_console(int slave) {
  if (::ioctl(slave, TIOCSCTTY, 0) != 0) return false;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::dup2(slave, fd) < 0) return false;
  }
  return true;
}

}  // namespace hyperlet::runc
