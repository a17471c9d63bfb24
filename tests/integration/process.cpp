#include "process.h"

#include <arpa/inet.h>
#include <elf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

extern char** environ;

namespace hyperlet::testing {
namespace {

// Owns one pipe end; reset() closes it at most once.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read_end;
  Fd write_end;
};

bool make_pipe(Pipe& pipe) {
  int fds[2];
  // O_CLOEXEC: the child gets only the ends that posix_spawn dup2()s.
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  pipe.read_end = Fd(fds[0]);
  pipe.write_end = Fd(fds[1]);
  return true;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int shell_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  using Clock = std::chrono::steady_clock;
  ProcessResult result;
  // A child that exits without reading its stdin must not kill the test.
  ::signal(SIGPIPE, SIG_IGN);

  Pipe in, out, err;
  if (!make_pipe(in) || !make_pipe(out) || !make_pipe(err)) {
    result.spawn_error = std::string("pipe2: ") + std::strerror(errno);
    return result;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read_end.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write_end.get(), STDERR_FILENO);

  std::vector<char*> arguments;
  for (const auto& argument : argv) arguments.push_back(const_cast<char*>(argument.c_str()));
  arguments.push_back(nullptr);
  std::vector<char*> environment;
  // An extra KEY=VALUE replaces the inherited KEY (getenv would find the first).
  auto overridden = [&](const char* entry) {
    const std::string_view inherited(entry);
    for (const auto& extra : options.extra_environment) {
      const auto key_end = extra.find('=');
      if (key_end != std::string::npos &&
          inherited.substr(0, key_end + 1) == std::string_view(extra).substr(0, key_end + 1)) {
        return true;
      }
    }
    return false;
  };
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!overridden(*entry)) environment.push_back(*entry);
  }
  for (const auto& entry : options.extra_environment) environment.push_back(const_cast<char*>(entry.c_str()));
  environment.push_back(nullptr);

  // A process group of its own, so that the safety timeout can kill everything
  // the child started (a shell's background hyperlet), not only the child.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);

  const auto started = Clock::now();
  pid_t pid = -1;
  const int spawn_errno =
      ::posix_spawn(&pid, arguments[0], &actions, &attributes, arguments.data(), environment.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawn_errno != 0) {
    result.spawn_error = "posix_spawn " + argv[0] + ": " + std::strerror(spawn_errno);
    return result;
  }
  in.read_end.reset();
  out.write_end.reset();
  err.write_end.reset();
  set_nonblocking(in.write_end.get());
  if (options.stdin_data.empty() && !options.keep_stdin_open) in.write_end.reset();

  std::size_t written = 0;
  const auto deadline = started + options.safety_timeout;
  while (out.read_end.get() >= 0 || err.read_end.get() >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      result.killed_by_safety_timeout = true;
      break;
    }
    // With keep_stdin_open, stdin stays open after its data: poll it no more.
    const bool stdin_pending = written < options.stdin_data.size();
    pollfd fds[3] = {{stdin_pending ? in.write_end.get() : -1, POLLOUT, 0},
                     {out.read_end.get(), POLLIN, 0},
                     {err.read_end.get(), POLLIN, 0}};
    if (::poll(fds, 3, static_cast<int>(left.count())) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) {
      const ssize_t n =
          ::write(in.write_end.get(), options.stdin_data.data() + written, options.stdin_data.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      // Done, or the child closed its stdin (EPIPE): either way, EOF.
      if (n < 0 ? errno != EAGAIN : written == options.stdin_data.size() && !options.keep_stdin_open) {
        in.write_end.reset();
      }
    }
    const std::pair<Fd*, std::string*> sinks[] = {{&out.read_end, &result.out}, {&err.read_end, &result.err}};
    for (int i = 0; i < 2; ++i) {
      if (fds[i + 1].revents == 0) continue;
      char buffer[65536];
      const ssize_t n = ::read(sinks[i].first->get(), buffer, sizeof buffer);
      if (n > 0) {
        sinks[i].second->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        sinks[i].first->reset();
      }
    }
  }
  in.write_end.reset();

  // Both outputs are closed, so the child is (nearly) done; still bound the wait,
  // even after SIGKILL: a process stuck in the kernel (seen in KVM_RUN under
  // nested SVM) cannot die, and waiting for it would hang the whole suite.
  int wait_status = 0;
  bool reaped = false;
  const auto give_up = deadline + std::chrono::seconds(10);
  for (;;) {
    rusage usage{};
    const pid_t waited = ::wait4(pid, &wait_status, WNOHANG, &usage);
    if (waited == pid) {
      reaped = true;
      const auto microseconds = [](const timeval& time) {
        return std::chrono::microseconds(time.tv_sec * 1'000'000 + time.tv_usec);
      };
      result.cpu_time = std::chrono::duration_cast<std::chrono::milliseconds>(microseconds(usage.ru_utime) +
                                                                              microseconds(usage.ru_stime));
      break;
    }
    if (waited < 0 && errno != EINTR) break;
    if (Clock::now() >= deadline && !result.killed_by_safety_timeout) {
      ::kill(-pid, SIGKILL);
      result.killed_by_safety_timeout = true;
    }
    if (Clock::now() >= give_up) {
      result.wait_error = "the child did not end within 10 s of SIGKILL (stuck in the kernel?)";
      break;
    }
    ::usleep(1000);
  }
  result.status = reaped ? shell_status(wait_status) : -1;
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return result;
}

std::string static_pie_problem(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  Elf64_Ehdr header{};
  if (!file.read(reinterpret_cast<char*>(&header), sizeof header)) return "cannot read its ELF header";
  if (header.e_type != ET_DYN) return "not position-independent: its addresses would not be randomized";
  bool relocates_itself = false;
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment{};
    file.seekg(static_cast<std::streamoff>(header.e_phoff + i * sizeof segment));
    if (!file.read(reinterpret_cast<char*>(&segment), sizeof segment)) return "cannot read its program headers";
    if (segment.p_type == PT_INTERP) return "it asks for a dynamic loader (PT_INTERP)";
    relocates_itself |= segment.p_type == PT_DYNAMIC;
  }
  return relocates_itself ? "" : "no dynamic section: a static-pie relocates itself from one";
}

std::string kvm_unusable_reason() {
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("open(\"/dev/kvm\", O_RDWR): ") + std::strerror(errno);
  struct stat device {};
  const bool character_device = ::fstat(fd, &device) == 0 && S_ISCHR(device.st_mode);
  ::close(fd);
  if (!character_device) return "/dev/kvm is not a character device (a file left by something that created it?)";
  return {};
}

std::string describe(const ProcessResult& result) {
  return "status " + std::to_string(result.status) + (result.killed_by_safety_timeout ? " (KILLED: hung)" : "") +
         "\n--- stdout ---\n" + result.out.substr(0, 4000) + "\n--- stderr ---\n" + result.err.substr(0, 4000) +
         (result.spawn_error.empty() ? "" : "\n--- spawn error ---\n" + result.spawn_error) +
         (result.wait_error.empty() ? "" : "\n--- wait error ---\n" + result.wait_error);
}

int free_port(int type) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const std::string& stdout_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> arguments;
  for (const auto& argument : argv) arguments.push_back(const_cast<char*>(argument.c_str()));
  arguments.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawn(&pid, arguments[0], &actions, nullptr, arguments.data(), environ) == 0) pid_ = pid;
  posix_spawn_file_actions_destroy(&actions);
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
  wait();
}

int BackgroundProcess::wait() {
  if (pid_ <= 0) return status_;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return status_;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

// One HTTP GET to 127.0.0.1:port, retried while the server starts; the response.
std::string http_get(int port, const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string response;
    char buffer[4096];
    for (ssize_t got; (got = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
      response.append(buffer, static_cast<std::size_t>(got));
    ::close(fd);
    return response;
  }
  return "";
}

}  // namespace hyperlet::testing
