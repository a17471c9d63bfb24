// http-server: a single-threaded epoll HTTP/1.1 server (keep-alive, pipelining)
// that serves the files under a directory: GET and HEAD, 200/304-free, 400, 404,
// 405. In a microVM the directory is a volume and the port a published one:
//
//   hyperlet run --volume ./site:/www --publish 8080:8080 http-server
//
// Natively: `http-server --root ./site`. Options: --port N (8080), --root DIR
// (/www), --requests N (exit 0 after N responses; 0 = serve forever).
//
// Per request it makes few syscalls, since each costs a trap in a microVM: one
// read and one write (which the guest library's socket buffers usually answer
// without a trap), and a stat at most once a second per file to revalidate its
// in-memory copy (as nginx's open_file_cache_valid does).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <hyperlet/guest.h>

namespace {

struct Options {
  int port = 8080;
  std::string root = "/www";
  long requests = 0;
};

struct CachedFile {
  std::string body;
  std::chrono::steady_clock::time_point checked;  // when stat last said it is current
  ino_t inode = 0;
  off_t size = 0;
  timespec modified{};
};

struct Connection {
  int fd = -1;
  std::string input;
  std::string output;  // what the socket did not take yet
  bool close_after_output = false;
  bool waiting_to_write = false;  // EPOLLOUT is in its epoll registration
};

class Server {
 public:
  explicit Server(Options options) : options_(std::move(options)) {}

  int run() {
    listener_ = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener_ < 0) return fail("socket");
    int one = 1, zero = 0;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(listener_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_any;
    address.sin6_port = htons(static_cast<std::uint16_t>(options_.port));
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return fail("bind");
    if (listen(listener_, 512) != 0) return fail("listen");
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return fail("epoll_create1");
    watch(listener_, EPOLLIN, EPOLL_CTL_ADD);
    std::printf("http-server: serving %s on port %d\n", options_.root.c_str(), options_.port);
    std::fflush(stdout);
    hyperlet::ready();

    epoll_event events[64];
    for (;;) {
      const int ready = epoll_wait(epoll_, events, 64, -1);
      if (ready < 0) {
        if (errno == EINTR) continue;
        return fail("epoll_wait");
      }
      for (int i = 0; i < ready; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listener_) {
          accept_all();
          continue;
        }
        auto it = connections_.find(fd);
        if (it == connections_.end()) continue;
        Connection& connection = *it->second;
        bool keep = true;
        if ((events[i].events & EPOLLOUT) != 0) keep = flush(connection);
        if (keep && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) keep = receive(connection);
        if (!keep) drop(fd);
        if (options_.requests > 0 && served_ >= options_.requests && connections_.empty()) return 0;
      }
    }
  }

 private:
  static int fail(const char* what) {
    std::fprintf(stderr, "http-server: %s: %s\n", what, std::strerror(errno));
    return 1;
  }

  void watch(int fd, std::uint32_t events, int operation) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    epoll_ctl(epoll_, operation, fd, &event);
  }

  void accept_all() {
    for (;;) {
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: all taken
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto connection = std::make_unique<Connection>();
      connection->fd = fd;
      connections_[fd] = std::move(connection);
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  void drop(int fd) {
    close(fd);  // also leaves the epoll set
    connections_.erase(fd);
  }

  // Reads what arrived and answers every complete request in it.
  bool receive(Connection& connection) {
    char buffer[16384];
    const ssize_t got = read(connection.fd, buffer, sizeof buffer);
    if (got == 0) return false;
    if (got < 0) return errno == EAGAIN || errno == EINTR;
    connection.input.append(buffer, static_cast<std::size_t>(got));
    std::size_t end;
    while (!connection.close_after_output && (end = connection.input.find("\r\n\r\n")) != std::string::npos) {
      respond(connection, std::string_view(connection.input).substr(0, end + 2));
      connection.input.erase(0, end + 4);
    }
    if (connection.input.size() > 64 * 1024) return false;  // headers too large
    return flush(connection);
  }

  // Sends pending output; waits for EPOLLOUT if the socket is full.
  bool flush(Connection& connection) {
    while (!connection.output.empty()) {
      const ssize_t sent = write(connection.fd, connection.output.data(), connection.output.size());
      if (sent < 0) {
        if (errno != EAGAIN) return false;
        if (!connection.waiting_to_write) watch(connection.fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        connection.waiting_to_write = true;
        return true;
      }
      connection.output.erase(0, static_cast<std::size_t>(sent));
    }
    // Only a change of interest costs an epoll_ctl.
    if (connection.waiting_to_write) watch(connection.fd, EPOLLIN, EPOLL_CTL_MOD);
    connection.waiting_to_write = false;
    return !connection.close_after_output;
  }

  static bool header_says(std::string_view head, std::string_view name, std::string_view value) {
    for (std::size_t at = head.find("\r\n"); at != std::string_view::npos; at = head.find("\r\n", at + 2)) {
      const std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
      if (line.size() < name.size() + 1 || strncasecmp(line.data(), name.data(), name.size()) != 0 ||
          line[name.size()] != ':') {
        continue;
      }
      std::string_view rest = line.substr(name.size() + 1);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      return rest.size() >= value.size() && strncasecmp(rest.data(), value.data(), value.size()) == 0;
    }
    return false;
  }

  void respond(Connection& connection, std::string_view head) {
    ++served_;
    const std::size_t first_space = head.find(' ');
    const std::size_t second_space = head.find(' ', first_space + 1);
    const std::size_t line_end = head.find("\r\n");
    if (first_space == std::string_view::npos || second_space == std::string_view::npos || second_space > line_end) {
      reply(connection, 400, "Bad Request", "bad request\n", true, false);
      return;
    }
    const std::string_view method = head.substr(0, first_space);
    std::string_view target = head.substr(first_space + 1, second_space - first_space - 1);
    const std::string_view version = head.substr(second_space + 1, line_end - second_space - 1);
    bool close_after = version == "HTTP/1.0" ? !header_says(head, "Connection", "keep-alive")
                                             : header_says(head, "Connection", "close");
    if (options_.requests > 0 && served_ >= options_.requests) close_after = true;
    const bool head_only = method == "HEAD";
    if (method != "GET" && !head_only) {
      reply(connection, 405, "Method Not Allowed", "only GET and HEAD\n", close_after, false);
      return;
    }
    target = target.substr(0, target.find('?'));
    if (!target.starts_with('/') || target.find("..") != std::string_view::npos) {
      reply(connection, 400, "Bad Request", "bad path\n", close_after, head_only);
      return;
    }
    std::string path = options_.root + std::string(target);
    if (path.ends_with('/')) path += "index.html";
    const CachedFile* file = load(path);
    if (file == nullptr) {
      reply(connection, 404, "Not Found", "not found\n", close_after, head_only);
      return;
    }
    reply(connection, 200, "OK", file->body, close_after, head_only, content_type(path));
  }

  void reply(Connection& connection, int status, std::string_view reason, std::string_view body, bool close_after,
             bool head_only, std::string_view type = "text/plain") {
    char header[256];
    const int length = std::snprintf(header, sizeof header,
                                     "HTTP/1.1 %d %.*s\r\nServer: hyperlet-http-server\r\nContent-Type: %.*s\r\n"
                                     "Content-Length: %zu\r\n%s\r\n",
                                     status, static_cast<int>(reason.size()), reason.data(),
                                     static_cast<int>(type.size()), type.data(), body.size(),
                                     close_after ? "Connection: close\r\n" : "");
    connection.output.append(header, static_cast<std::size_t>(length));
    if (!head_only) connection.output.append(body);
    connection.close_after_output = close_after;
  }

  static std::string_view content_type(std::string_view path) {
    if (path.ends_with(".html")) return "text/html";
    if (path.ends_with(".css")) return "text/css";
    if (path.ends_with(".js")) return "text/javascript";
    if (path.ends_with(".json")) return "application/json";
    if (path.ends_with(".txt")) return "text/plain";
    return "application/octet-stream";
  }

  // The file's bytes, from memory while stat says it has not changed; stat runs
  // at most once a second per file (the clock is the vDSO's: no trap).
  const CachedFile* load(const std::string& path) {
    constexpr auto kRevalidateAfter = std::chrono::seconds(1);
    const auto now = std::chrono::steady_clock::now();
    if (auto cached = cache_.find(path); cached != cache_.end() && now - cached->second.checked < kRevalidateAfter) {
      return &cached->second;
    }
    struct stat info{};
    if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
      cache_.erase(path);
      return nullptr;
    }
    auto it = cache_.find(path);
    if (it != cache_.end() && it->second.inode == info.st_ino && it->second.size == info.st_size &&
        it->second.modified.tv_sec == info.st_mtim.tv_sec && it->second.modified.tv_nsec == info.st_mtim.tv_nsec) {
      it->second.checked = now;
      return &it->second;
    }
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    CachedFile file{std::string(static_cast<std::size_t>(info.st_size), '\0'), now, info.st_ino, info.st_size,
                    info.st_mtim};
    std::size_t done = 0;
    while (done < file.body.size()) {
      const ssize_t got = read(fd, file.body.data() + done, file.body.size() - done);
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    close(fd);
    file.body.resize(done);
    return &(cache_[path] = std::move(file));
  }

  Options options_;
  int listener_ = -1;
  int epoll_ = -1;
  long served_ = 0;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::unordered_map<std::string, CachedFile> cache_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (word == "--port" && value != nullptr) {
      options.port = std::atoi(value);
    } else if (word == "--root" && value != nullptr) {
      options.root = value;
    } else if (word == "--requests" && value != nullptr) {
      options.requests = std::atol(value);
    } else {
      std::fprintf(stderr, "usage: http-server [--port N] [--root DIR] [--requests N]\n");
      return 64;
    }
    ++i;
  }
  if (options.port <= 0 || options.port > 65535) {
    std::fprintf(stderr, "http-server: bad --port\n");
    return 64;
  }
  return Server(std::move(options)).run();
}
