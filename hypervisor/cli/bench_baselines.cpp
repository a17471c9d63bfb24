#include "cli/bench_baselines.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/mapping.h"

extern char** environ;

namespace hyperlet::bench {

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

int shell_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> pointers;
  for (const std::string& word : argv) pointers.push_back(const_cast<char*>(word.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// posix_spawn (vfork + exec in glibc: no copy of this process's page tables),
// stdin and stdout /dev/null, stderr to `stderr_fd`; waits for it.
Result<RunOutcome> spawn_and_wait(const std::vector<std::string>& argv, int stderr_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
  std::vector<char*> words = c_argv(argv);
  pid_t pid = 0;
  const std::uint64_t start = now_ns();
  const int error = posix_spawn(&pid, words[0], &actions, nullptr, words.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return fail(ExitStatus::kUsage, "cannot start {}: {}", argv[0], std::strerror(error));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail(ExitStatus::kUsage, "waitpid: {}", std::strerror(errno));
  }
  return RunOutcome{now_ns() - start, shell_status(status)};
}

class SpawnBaseline final : public Baseline {
 public:
  SpawnBaseline(std::string name, std::vector<std::string> argv,
                std::optional<std::vector<std::string>> stats_argv = std::nullopt)
      : Baseline(std::move(name), shell_words(argv)), argv_(std::move(argv)), stats_argv_(std::move(stats_argv)) {}
  Result<RunOutcome> run_once() override {
    reset_error_output();
    return spawn_and_wait(argv_, error_output_fd());
  }
  std::optional<std::vector<std::string>> stats_command() const override { return stats_argv_; }

 private:
  std::vector<std::string> argv_;
  std::optional<std::vector<std::string>> stats_argv_;
};

// What the namespace container's first process needs; read after clone, in the
// child's copy of this process, which only makes async-signal-safe calls.
struct NamespaceChild {
  const char* path;
  char* const* argv;
  int sync_read;
  int sync_write;
  int null_fd;
  int stderr_fd;
};

int namespace_child_main(void* argument) {
  const auto* child = static_cast<const NamespaceChild*>(argument);
  ::close(child->sync_write);
  char byte = 0;
  // The parent writes the uid/gid maps, then this byte.
  if (::read(child->sync_read, &byte, 1) != 1) ::_exit(125);
  // As util-linux's unshare does by default: mounts made in here stay in here.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(125);
  ::dup2(child->null_fd, 0);
  ::dup2(child->null_fd, 1);
  ::dup2(child->stderr_fd, 2);
  ::execve(child->path, child->argv, environ);
  ::_exit(127);
}

bool write_text(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

class NamespaceBaseline final : public Baseline {
 public:
  NamespaceBaseline(std::vector<std::string> argv, bool network)
      : Baseline(network ? "unshare container" : "unshare container (host network)",
                 fmt::format("clone(CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWIPC|CLONE_NEWUTS{}) + "
                             "uid/gid map + private mounts + execve {}",
                             network ? "|CLONE_NEWNET" : "", shell_words(argv))),
        argv_(std::move(argv)),
        flags_(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (network ? CLONE_NEWNET : 0)),
        null_fd_(::open("/dev/null", O_RDWR | O_CLOEXEC)) {
    void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack != MAP_FAILED) stack_ = Mapping(stack, kStackSize);
  }

  Result<RunOutcome> run_once() override {
    if (stack_.data() == nullptr || !null_fd_.valid())
      return fail(ExitStatus::kUsage, "namespace container: no memory");
    reset_error_output();
    int sync[2];
    if (::pipe2(sync, O_CLOEXEC) != 0) return fail(ExitStatus::kUsage, "pipe: {}", std::strerror(errno));
    std::vector<char*> words = c_argv(argv_);
    NamespaceChild child{words[0], words.data(), sync[0], sync[1], null_fd_.get(), error_output_fd()};
    const std::uint64_t start = now_ns();
    const pid_t pid = ::clone(namespace_child_main, stack_.data() + stack_.size(), flags_ | SIGCHLD, &child);
    const int clone_errno = errno;
    ::close(sync[0]);
    if (pid < 0) {
      ::close(sync[1]);
      return fail(ExitStatus::kUsage, "clone with namespace flags: {}", std::strerror(clone_errno));
    }
    const std::string proc = fmt::format("/proc/{}/", pid);
    const bool mapped = write_text(proc + "setgroups", "deny") &&
                        write_text(proc + "uid_map", fmt::format("0 {} 1", ::getuid())) &&
                        write_text(proc + "gid_map", fmt::format("0 {} 1", ::getgid()));
    if (mapped) (void)!::write(sync[1], "x", 1);
    ::close(sync[1]);  // without the byte the child exits 125
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return fail(ExitStatus::kUsage, "waitpid: {}", std::strerror(errno));
    }
    const std::uint64_t end = now_ns();
    if (!mapped) return fail(ExitStatus::kUsage, "namespace container: cannot write the uid/gid maps");
    return RunOutcome{end - start, shell_status(status)};
  }

 private:
  static constexpr std::size_t kStackSize = 256 * 1024;
  std::vector<std::string> argv_;
  int flags_;
  UniqueFd null_fd_;
  Mapping stack_;
};

class RuncBaseline final : public Baseline {
 public:
  RuncBaseline(std::string runc, std::filesystem::path bundle)
      : Baseline("runc container", fmt::format("{} run --bundle {} ID", runc, bundle.string())),
        runc_(std::move(runc)),
        bundle_(std::move(bundle)) {}

  Result<RunOutcome> run_once() override {
    reset_error_output();
    const std::string id = fmt::format("hyperlet-bench-{}-{}", ::getpid(), ++runs_);
    auto outcome = spawn_and_wait({runc_, "run", "--bundle", bundle_.string(), id}, error_output_fd());
    // A failed run may leave its container behind: nothing may outlive the bench.
    if (!outcome || outcome->status != 0) (void)capture({runc_, "delete", "--force", id}, 10'000);
    return outcome;
  }

 private:
  std::string runc_;
  std::filesystem::path bundle_;
  int runs_ = 0;
};

std::optional<std::string> find_in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string directories = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  std::size_t start = 0;
  while (start <= directories.size()) {
    const std::size_t end = std::min(directories.find(':', start), directories.size());
    const std::filesystem::path candidate = std::filesystem::path(directories.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return std::nullopt;
}

std::vector<std::string> joined(std::vector<std::string> head, const std::vector<std::string>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

}  // namespace

Baseline::Baseline(std::string name, std::string command)
    : name_(std::move(name)),
      command_(std::move(command)),
      error_output_(::memfd_create("bench-stderr", MFD_CLOEXEC)) {}

void Baseline::reset_error_output() const {
  if (!error_output_.valid()) return;
  (void)!::ftruncate(error_output_.get(), 0);
  ::lseek(error_output_.get(), 0, SEEK_SET);
}

std::string Baseline::last_error_output() const {
  std::string text;
  char buffer[4096];
  ssize_t got = 0;
  std::size_t offset = 0;
  while ((got = ::pread(error_output_.get(), buffer, sizeof buffer, static_cast<off_t>(offset))) > 0) {
    text.append(buffer, static_cast<std::size_t>(got));
    offset += static_cast<std::size_t>(got);
  }
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const std::size_t last_line = text.rfind('\n');
  return last_line == std::string::npos ? text : text.substr(last_line + 1);
}

std::string shell_words(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& word : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !word.empty() && word.find_first_not_of(
                                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                            "-_./=:,+@%") == std::string::npos;
    if (plain) {
      out += word;
      continue;
    }
    out += '\'';
    for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::unique_ptr<Baseline> native_baseline(const std::string& app, const std::vector<std::string>& arguments) {
  return std::make_unique<SpawnBaseline>("native", joined({app}, arguments));
}

std::unique_ptr<Baseline> unshare_baseline(const std::string& app, const std::vector<std::string>& arguments,
                                           bool network) {
  return std::make_unique<NamespaceBaseline>(joined({app}, arguments), network);
}

Result<std::unique_ptr<Baseline>> runc_baseline(const std::string& app, const std::vector<std::string>& arguments,
                                                const std::filesystem::path& bundle_dir) {
  const auto runc = find_in_path("runc");
  if (!runc) return fail(ExitStatus::kUsage, "runc is not installed (Debian: apt-get install runc)");
  std::error_code error;
  std::filesystem::create_directories(bundle_dir / "rootfs", error);
  if (error) return fail(ExitStatus::kUsage, "cannot make the OCI bundle: {}", error.message());
  std::filesystem::copy_file(app, bundle_dir / "rootfs" / "app", std::filesystem::copy_options::overwrite_existing,
                             error);
  if (error) return fail(ExitStatus::kUsage, "cannot copy {} into the OCI bundle: {}", app, error.message());
  std::filesystem::permissions(bundle_dir / "rootfs" / "app", std::filesystem::perms(0755), error);
  // runc's own default spec (its namespaces, mounts, capabilities, read-only
  // root), with only the process changed: the app, no terminal.
  auto spec = capture({*runc, "spec", "--bundle", bundle_dir.string()}, 30'000);
  if (!spec || spec->status != 0) {
    return fail(ExitStatus::kUsage, "runc spec failed: {}", spec ? spec->err : spec.error().message);
  }
  const std::filesystem::path config_path = bundle_dir / "config.json";
  nlohmann::json config;
  try {
    std::ifstream(config_path) >> config;
    config["process"]["terminal"] = false;
    config["process"]["args"] = joined({"/app"}, arguments);
    config["root"]["path"] = "rootfs";
    std::ofstream(config_path) << config.dump(2);
  } catch (const nlohmann::json::exception& exception) {
    return fail(ExitStatus::kUsage, "cannot edit runc's config.json: {}", exception.what());
  }
  return std::make_unique<RuncBaseline>(*runc, bundle_dir);
}

std::unique_ptr<Baseline> kvm_floor_baseline(const std::string& hyperlet) {
  return std::make_unique<SpawnBaseline>("raw KVM floor", std::vector<std::string>{hyperlet, "bench", "kvm-floor"});
}

std::unique_ptr<Baseline> hyperlet_cold_baseline(const std::string& hyperlet,
                                                 const std::vector<std::string>& run_options, const std::string& app,
                                                 const std::vector<std::string>& arguments) {
  std::vector<std::string> tail = joined(joined(run_options, {app, "--"}), arguments);
  return std::make_unique<SpawnBaseline>("hyperlet cold", joined({hyperlet, "run"}, tail),
                                         joined({hyperlet, "run", "--stats"}, tail));
}

std::unique_ptr<Baseline> hyperlet_restored_baseline(const std::string& hyperlet, const std::string& snapshot,
                                                     const std::vector<std::string>& run_options) {
  std::vector<std::string> tail = joined({"--restore", snapshot}, run_options);
  return std::make_unique<SpawnBaseline>("hyperlet restored", joined({hyperlet, "run"}, tail),
                                         joined({hyperlet, "run", "--stats"}, tail));
}

Result<Captured> capture(const std::vector<std::string>& argv, int timeout_ms) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail(ExitStatus::kUsage, "pipe: {}", std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return fail(ExitStatus::kUsage, "pipe: {}", std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<char*> words = c_argv(argv);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, words[0], &actions, nullptr, words.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  UniqueFd out_fd(out_pipe[0]);
  UniqueFd err_fd(err_pipe[0]);
  if (error != 0) return fail(ExitStatus::kUsage, "cannot start {}: {}", argv[0], std::strerror(error));
  Captured captured;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool killed = false;
  std::array<pollfd, 2> fds{pollfd{out_fd.get(), POLLIN, 0}, pollfd{err_fd.get(), POLLIN, 0}};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
      if (got <= 0) {
        fds[i].fd = -1;
        continue;
      }
      (i == 0 ? captured.out : captured.err).append(buffer, static_cast<std::size_t>(got));
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (killed) return fail(ExitStatus::kUsage, "{} did not end within {} ms", argv[0], timeout_ms);
  captured.status = shell_status(status);
  return captured;
}

std::optional<std::uint64_t> parse_guest_pages_touched(const std::string& stats_output) {
  constexpr std::string_view kLabel = "guest pages touched: ";
  const std::size_t at = stats_output.find(kLabel);
  if (at == std::string::npos) return std::nullopt;
  const char* digits = stats_output.c_str() + at + kLabel.size();
  char* end = nullptr;
  const unsigned long long pages = std::strtoull(digits, &end, 10);
  if (end == digits) return std::nullopt;
  return pages;
}

bool help_offers_restore(const std::string& run_help) { return run_help.find("--restore") != std::string::npos; }

bool restore_refused(int status, const std::string& error_output) {
  return status == 125 && error_output.find("--restore") != std::string::npos;
}

std::string own_executable() {
  std::error_code error;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("/proc/self/exe") : path.string();
}

}  // namespace hyperlet::bench
