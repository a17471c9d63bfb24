// kv-store: a single-threaded epoll key-value store over TCP that keeps its data
// in an append-only log and comes back with it after being killed. In a
// microVM the data directory is a volume and the port a published one:
//
//   hyperlet run --volume ./data:/data --publish 7070:7070 kv-store
//
// Natively: `kv-store --data ./data`. Options: --port N (7070), --data DIR (/data).
//
// Protocol, one command per line ("\r\n" also accepted), answered in order:
//   SET key value   -> OK              (value: the rest of the line, may be empty)
//   GET key         -> VALUE value | NOTFOUND
//   DEL key         -> OK | NOTFOUND
//   anything else   -> ERROR <why>
// Keys are 1 to 256 bytes without spaces; a line is at most 64 KiB.
//
// Durability: DIR/kv.log holds one line per change ("SET key value" or "DEL
// key"). A change is appended with write() and fsync()ed before it is answered
// OK; all the changes that arrived in one read() share one write and one fsync.
// At start the log is replayed; a torn last line (a crash in the middle of a
// write) is cut off. A failed write or fsync is fatal: the store answers ERROR
// and exits, and a restart replays what reached the disk. An flock on the log
// keeps a second store off the same directory.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <hyperlet/guest.h>

namespace {

constexpr std::size_t kMaxLine = 64 * 1024;
constexpr std::size_t kMaxKey = 256;

struct Options {
  int port = 7070;
  std::string data = "/data";
};

struct Connection {
  int fd = -1;
  std::string input;
  std::string output;  // answers the socket did not take yet
  bool close_after_output = false;
  bool waiting_to_write = false;  // EPOLLOUT is in its epoll registration
};

// One parsed line: the command word, the key and (for SET) the value.
struct Command {
  std::string_view verb, key, value;
};

// "VERB key[ value]"; false when the line is not a well-formed command.
bool parse(std::string_view line, Command& command) {
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return false;
  command.verb = line.substr(0, space);
  const std::string_view rest = line.substr(space + 1);
  if (command.verb == "SET") {
    const std::size_t value_at = rest.find(' ');
    if (value_at == std::string_view::npos) return false;
    command.key = rest.substr(0, value_at);
    command.value = rest.substr(value_at + 1);
  } else if (command.verb == "GET" || command.verb == "DEL") {
    command.key = rest;
  } else {
    return false;
  }
  return !command.key.empty() && command.key.size() <= kMaxKey && command.key.find(' ') == std::string_view::npos;
}

class Store {
 public:
  explicit Store(Options options) : options_(std::move(options)), log_path_(options_.data + "/kv.log") {}

  int run() {
    if (!open_log()) return 1;
    if (!listen_on_port()) return 1;
    std::printf("kv-store: %zu keys from %s, serving on port %d\n", data_.size(), log_path_.c_str(), options_.port);
    std::fflush(stdout);
    hyperlet::ready();

    epoll_event events[64];
    for (;;) {
      const int ready = epoll_wait(epoll_, events, 64, -1);
      if (ready < 0) {
        if (errno == EINTR) continue;
        fail("epoll_wait");
        return 1;
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
        if (log_failed_) return 1;
        if (!keep) drop(fd);
      }
    }
  }

 private:
  static bool fail(const char* what) {
    std::fprintf(stderr, "kv-store: %s: %s\n", what, std::strerror(errno));
    return false;
  }

  // Opens (or creates) the log for appending, takes its lock and replays it.
  bool open_log() {
    log_ = open(log_path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log_ < 0) {
      std::fprintf(stderr, "kv-store: cannot open %s for writing: %s (the data directory must be writable)\n",
                   log_path_.c_str(), std::strerror(errno));
      return false;
    }
    if (flock(log_, LOCK_EX | LOCK_NB) != 0) {
      std::fprintf(stderr, "kv-store: %s is in use by another kv-store (%s)\n", log_path_.c_str(),
                   std::strerror(errno));
      return false;
    }
    std::string log;
    char buffer[65536];
    for (off_t at = 0;;) {
      const ssize_t got = pread(log_, buffer, sizeof buffer, at);
      if (got < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "kv-store: cannot read %s: %s\n", log_path_.c_str(), std::strerror(errno));
        return false;
      }
      if (got == 0) break;
      log.append(buffer, static_cast<std::size_t>(got));
      at += got;
    }
    std::size_t done = 0;
    for (std::size_t line_number = 1;; ++line_number) {
      const std::size_t end = log.find('\n', done);
      if (end == std::string::npos) break;
      Command command;
      if (!parse(std::string_view(log).substr(done, end - done), command) || command.verb == "GET") {
        std::fprintf(stderr, "kv-store: %s:%zu: not a log record; refusing to start\n", log_path_.c_str(),
                     line_number);
        return false;
      }
      apply(command);
      done = end + 1;
    }
    if (done < log.size()) {
      // Torn by a crash while writing: never answered OK, so drop it.
      if (ftruncate(log_, static_cast<off_t>(done)) != 0 || fsync(log_) != 0) {
        std::fprintf(stderr, "kv-store: cannot cut the torn end of %s: %s\n", log_path_.c_str(),
                     std::strerror(errno));
        return false;
      }
      std::fprintf(stderr, "kv-store: dropped a torn record of %zu bytes at the end of %s\n", log.size() - done,
                   log_path_.c_str());
    }
    return true;
  }

  bool listen_on_port() {
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
    if (listen(listener_, 128) != 0) return fail("listen");
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return fail("epoll_create1");
    watch(listener_, EPOLLIN, EPOLL_CTL_ADD);
    return true;
  }

  // A change to the map; the caller has logged it (or is replaying the log).
  bool apply(const Command& command) {
    if (command.verb == "SET") {
      data_.insert_or_assign(std::string(command.key), std::string(command.value));
      return true;
    }
    return data_.erase(std::string(command.key)) > 0;  // DEL
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

  // Reads what arrived, answers every complete line in it, and makes the
  // changes durable (one write + fsync for all of them) before sending the answers.
  bool receive(Connection& connection) {
    char buffer[16384];
    const ssize_t got = read(connection.fd, buffer, sizeof buffer);
    if (got == 0) return false;
    if (got < 0) return errno == EAGAIN || errno == EINTR;
    connection.input.append(buffer, static_cast<std::size_t>(got));
    std::string records;
    std::size_t done = 0;
    for (std::size_t end; (end = connection.input.find('\n', done)) != std::string::npos; done = end + 1) {
      std::string_view line = std::string_view(connection.input).substr(done, end - done);
      if (line.ends_with('\r')) line.remove_suffix(1);
      answer(line, connection.output, records);
    }
    connection.input.erase(0, done);
    if (connection.input.size() > kMaxLine) {
      connection.output += "ERROR line too long\n";
      connection.close_after_output = true;
    }
    if (!records.empty() && !append_to_log(records)) {
      // The answers so far are not durable: none of them may be sent.
      const std::string why = std::strerror(errno);
      connection.output = "ERROR cannot write the log: " + why + "\n";
      connection.close_after_output = true;
      log_failed_ = true;
      flush(connection);
      std::fprintf(stderr, "kv-store: cannot write %s: %s; exiting (a restart replays what reached the disk)\n",
                   log_path_.c_str(), why.c_str());
      return false;
    }
    return flush(connection);
  }

  void answer(std::string_view line, std::string& output, std::string& records) {
    Command command;
    if (!parse(line, command)) {
      output += "ERROR usage: SET key value | GET key | DEL key\n";
      return;
    }
    if (command.verb == "GET") {
      auto it = data_.find(std::string(command.key));
      if (it == data_.end()) {
        output += "NOTFOUND\n";
      } else {
        output.append("VALUE ").append(it->second).append("\n");
      }
      return;
    }
    if (!apply(command)) {
      output += "NOTFOUND\n";  // DEL of a missing key changes nothing: not logged
      return;
    }
    records.append(line).append("\n");
    output += "OK\n";
  }

  bool append_to_log(std::string_view records) {
    while (!records.empty()) {
      const ssize_t written = write(log_, records.data(), records.size());
      if (written < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      records.remove_prefix(static_cast<std::size_t>(written));
    }
    return fsync(log_) == 0;
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
    if (connection.waiting_to_write) watch(connection.fd, EPOLLIN, EPOLL_CTL_MOD);
    connection.waiting_to_write = false;
    return !connection.close_after_output;
  }

  Options options_;
  std::string log_path_;
  int log_ = -1;
  bool log_failed_ = false;
  int listener_ = -1;
  int epoll_ = -1;
  std::unordered_map<std::string, std::string> data_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (word == "--port" && value != nullptr) {
      options.port = std::atoi(value);
    } else if (word == "--data" && value != nullptr) {
      options.data = value;
    } else {
      std::fprintf(stderr, "usage: kv-store [--port N] [--data DIR]\n");
      return 64;
    }
    ++i;
  }
  if (options.port <= 0 || options.port > 65535) {
    std::fprintf(stderr, "kv-store: bad --port\n");
    return 64;
  }
  return Store(std::move(options)).run();
}
