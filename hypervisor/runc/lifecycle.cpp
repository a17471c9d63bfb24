#include "runc/lifecycle.h"

#include <fcntl.h>
#include <linux/limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>

#include "core/unique_fd.h"
#include "loader/app_image.h"
#include "oci/bundle_config.h"
#include "runc/console.h"
#include "vm/run_options.h"

namespace hyperlet::runc {

namespace {

using nlohmann::json;

std::unexpected<Error> failure(std::string message) {
  return std::unexpected(Error{ExitStatus::kUsage, std::move(message)});
}

std::string errno_text() { return std::strerror(errno); }

std::string now_rfc3339() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  ::gmtime_r(&now.tv_sec, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:09}Z", date, now.tv_nsec);
}

// hyperlet is installed beside hyperlet-runc (the same install rule, the same build directory).
std::string hyperlet_path() {
  char self[PATH_MAX] = {};
  const ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path = length > 0 ? std::string(self, static_cast<std::size_t>(length)) : std::string();
  return path.substr(0, path.rfind('/') + 1) + "hyperlet";
}

// Opens guest_path beneath rootfs as the container would see it: absolute
// symlinks and .. resolve inside rootfs (RESOLVE_IN_ROOT), never to the host's files.
UniqueFd open_in_root(const std::string& rootfs, const std::string& guest_path) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return {};
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return UniqueFd(static_cast<int>(::syscall(SYS_openat2, root.get(), guest_path.c_str(), &how, sizeof how)));
}

bool regular_file_in_root(const std::string& rootfs, const std::string& guest_path) {
  UniqueFd file = open_in_root(rootfs, guest_path);
  struct stat info {};
  return file.valid() && ::fstat(file.get(), &info) == 0 && S_ISREG(info.st_mode);
}

bool is_directory(const std::string& host_path) {
  struct stat info {};
  return ::stat(host_path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool is_regular_file(const std::string& host_path) {
  struct stat info {};
  return ::stat(host_path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

// What `hyperlet run --cpus` accepts on this host.
unsigned host_cpus() { return host_cpu_limit(); }

std::string read_whole_file(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// Makes the container's cgroup, applies its limits and moves `pid` into it. A
// host with no cgroup filesystem gets a note: the VM's size still bounds its memory.
Result<ContainerCgroup> make_cgroup(const GlobalOptions& global, const oci::BundleRun& run, const std::string& id,
                                    pid_t pid) {
  const CgroupVersion version = detect_cgroup_version(kCgroupMount);
  if (version == CgroupVersion::kNone) {
    if (global.notes != nullptr) {
      global.notes->push_back(
          fmt::format("no cgroup filesystem at {}: the container's process is in no cgroup of "
                      "its own (its memory is still bounded by the VM's size)",
                      kCgroupMount));
    }
    return ContainerCgroup::open(version, {});
  }
  auto path = oci::cgroup_path(run.cgroups_path, id, global.systemd_cgroup);
  if (!path) return std::unexpected(path.error());
  // Rootless, or inside a container with a read-only /sys/fs/cgroup: as runc
  // does there, no cgroup unless a limit needs one.
  const std::string probe =
      version == CgroupVersion::kV2 ? std::string(kCgroupMount) : std::string(kCgroupMount) + "/memory";
  if (::access(probe.c_str(), W_OK) != 0) {
    if (!run.cgroup_resources.empty()) {
      return failure(
          fmt::format("cannot apply linux.resources: {} is not writable here ({}), so the container "
                      "can have no cgroup of its own",
                      probe, errno_text()));
    }
    if (global.notes != nullptr) {
      global.notes->push_back(
          fmt::format("{} is not writable here: the container's process is in no cgroup of "
                      "its own (its memory is still bounded by the VM's size)",
                      probe));
    }
    return ContainerCgroup::open(CgroupVersion::kNone, {});
  }
  auto cgroup = ContainerCgroup::create(version, kCgroupMount, *path, read_whole_file("/proc/self/cgroup"));
  if (!cgroup) return std::unexpected(cgroup.error());
  auto undo = [&](Error error) -> Result<ContainerCgroup> {
    [[maybe_unused]] auto removed = cgroup->remove();
    return std::unexpected(std::move(error));
  };
  if (auto ok = cgroup->apply(run.cgroup_resources); !ok) return undo(ok.error());
  if (auto ok = cgroup->add_process(pid); !ok) return undo(ok.error());
  return cgroup;
}

std::string fd_path(int fd) {
  char target[PATH_MAX] = {};
  const ssize_t length = ::readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), target, sizeof target - 1);
  return length > 0 ? std::string(target, static_cast<std::size_t>(length)) : std::string();
}

Result<json> read_config(const std::string& bundle) {
  const std::string path = bundle + "/config.json";
  std::ifstream file(path);
  if (!file) return failure(fmt::format("cannot read {}: {}", path, errno_text()));
  try {
    return json::parse(file);
  } catch (const json::exception& error) {
    return failure(fmt::format("{}: not valid JSON: {}", path, error.what()));
  }
}

// Writes what went wrong in the container's process to the sync pipe and ends it.
[[noreturn]] void child_fail(int pipe, const std::string& message) {
  [[maybe_unused]] const ssize_t written = ::write(pipe, message.data(), message.size());
  ::_exit(1);
}

// The container's process until `start`: set up, say so, wait on the fifo, exec hyperlet.
[[noreturn]] void container_process(const oci::BundleRun& run, const std::vector<std::string>& argv,
                                    const std::string& fifo_path, int console_slave, int sync_pipe) {
  if (::setsid() < 0) child_fail(sync_pipe, "setsid: " + errno_text());
  if (console_slave >= 0 && !attach_console(console_slave)) {
    child_fail(sync_pipe, "cannot make the terminal the container's: " + errno_text());
  }
  for (const oci::ResourceLimit& limit : run.rlimits) {
    const rlimit value{limit.soft, limit.hard};
    if (::setrlimit(static_cast<__rlimit_resource>(limit.resource), &value) != 0) {
      const int error = errno;
      rlimit current{};
      ::getrlimit(static_cast<__rlimit_resource>(limit.resource), &current);
      child_fail(sync_pipe, fmt::format("config.json: process.rlimits: cannot apply {} {}:{}: {} (this host's hard "
                                        "limit is {}; ask for at most that)",
                                        limit.name, limit.soft, limit.hard, std::strerror(error), current.rlim_max));
    }
  }
  if (run.network.kind == oci::NetworkNamespace::Kind::kPath) {
    UniqueFd name_space(::open(run.network.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!name_space.valid() || ::setns(name_space.get(), CLONE_NEWNET) != 0) {
      child_fail(sync_pipe, fmt::format("cannot enter the network namespace {}: {}", run.network.path, errno_text()));
    }
  } else if (run.network.kind == oci::NetworkNamespace::Kind::kNew && ::unshare(CLONE_NEWNET) != 0) {
    child_fail(sync_pipe, "cannot create a network namespace: " + errno_text());
  }
  // Nothing written and the pipe closed: set up. Then wait for `start`.
  ::close(sync_pipe);
  const int fifo = ::open(fifo_path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fifo < 0 || ::write(fifo, "0", 1) != 1) ::_exit(125);
  ::close(fifo);
  std::vector<char*> pointers;
  for (const std::string& word : argv) pointers.push_back(const_cast<char*>(word.c_str()));
  pointers.push_back(nullptr);
  ::execv(pointers[0], pointers.data());
  fmt::print(stderr, "hyperlet-runc: cannot run {}: {}\n", argv[0], errno_text());
  ::_exit(125);
}

void remove_container_dir(const std::string& root, const std::string& id) {
  const std::string dir = container_dir(root, id);
  ::unlink((dir + "/exec.fifo").c_str());
  ::unlink((dir + "/state.json").c_str());
  ::rmdir(dir.c_str());
}

Result<void> make_directories(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (::mkdir(prefix.c_str(), 0711) != 0 && errno != EEXIST) {
      return failure(fmt::format("cannot create {}: {}", prefix, errno_text()));
    }
    if (slash == std::string::npos) return {};
  }
}

}  // namespace

Result<void> create_container(const GlobalOptions& global, const CreateOptions& options) {
  if (auto ok = check_container_id(options.id); !ok) return std::unexpected(ok.error());
  std::string bundle = options.bundle.empty() ? "." : options.bundle;
  char resolved[PATH_MAX];
  if (::realpath(bundle.c_str(), resolved) == nullptr) {
    return failure(fmt::format("cannot open bundle {}: {}", bundle, errno_text()));
  }
  bundle = resolved;
  auto config = read_config(bundle);
  if (!config) return std::unexpected(config.error());
  auto run = oci::map_bundle_config(*config, bundle, !options.console_socket.empty(),
                                    {regular_file_in_root, is_directory, is_regular_file, host_cpus});
  if (!run) return std::unexpected(run.error());
  if (global.notes != nullptr) global.notes->insert(global.notes->end(), run->notes.begin(), run->notes.end());

  // The entrypoint is checked here, so that `create` fails with the reason rather than the VM at start.
  UniqueFd app = open_in_root(run->rootfs, run->app_guest_path);
  if (!app.valid()) {
    return failure(fmt::format("config.json: process.args[0]: {} is not in the image ({}): {}", run->app_guest_path,
                               run->rootfs, errno_text()));
  }
  const std::string app_path = fd_path(app.get());
  if (auto image = AppImage::open(app_path); !image) {
    return failure(fmt::format("config.json: process.args[0]: {}", image.error().message));
  }

  std::vector<std::string> argv = {hyperlet_path(), "run"};
  argv.insert(argv.end(), run->options.begin(), run->options.end());
  argv.push_back("--");
  argv.push_back(app_path);
  argv.insert(argv.end(), run->app_arguments.begin(), run->app_arguments.end());

  if (auto ok = make_directories(global.root); !ok) return ok;
  const std::string dir = container_dir(global.root, options.id);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return failure(fmt::format("container {} already exists", options.id));
    return failure(fmt::format("cannot create {}: {}", dir, errno_text()));
  }
  auto abandon = [&](Error error) -> Result<void> {
    remove_container_dir(global.root, options.id);
    return std::unexpected(std::move(error));
  };
  const std::string fifo = exec_fifo_path(global.root, options.id);
  if (::mkfifo(fifo.c_str(), 0600) != 0) return abandon({ExitStatus::kUsage, "mkfifo " + fifo + ": " + errno_text()});

  UniqueFd console_slave;
  if (run->terminal) {
    auto slave = open_console(options.console_socket);
    if (!slave) return abandon(slave.error());
    console_slave = std::move(*slave);
  }
  std::array<int, 2> sync{};
  if (::pipe2(sync.data(), O_CLOEXEC) != 0) return abandon({ExitStatus::kUsage, "pipe: " + errno_text()});
  const pid_t pid = ::fork();
  if (pid < 0) return abandon({ExitStatus::kUsage, "fork: " + errno_text()});
  if (pid == 0) {
    ::close(sync[0]);
    container_process(*run, argv, fifo, console_slave.valid() ? console_slave.get() : -1, sync[1]);
  }
  ::close(sync[1]);
  std::string message;
  char buffer[512];
  for (ssize_t got; (got = ::read(sync[0], buffer, sizeof buffer)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    message.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(sync[0]);
  if (!message.empty()) {
    ::waitpid(pid, nullptr, 0);
    return abandon({ExitStatus::kUsage, message});
  }

  // In its cgroup before `start`: hyperlet, its guest memory and vCPU threads are charged there from the first.
  auto cgroup = make_cgroup(global, *run, options.id, pid);
  if (!cgroup) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return abandon(cgroup.error());
  }
  auto abandon_cgroup = [&](Error error) -> Result<void> {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    [[maybe_unused]] auto removed = cgroup->remove();
    return abandon(std::move(error));
  };

  ContainerState state;
  state.id = options.id;
  state.pid = pid;
  state.cgroup_version = cgroup->version() == CgroupVersion::kV2 ? 2 : cgroup->version() == CgroupVersion::kV1 ? 1 : 0;
  state.cgroup_directories = cgroup->directories();
  state.pid_start_time = process_start_time(pid);
  state.bundle = bundle;
  state.rootfs = run->rootfs;
  state.created = now_rfc3339();
  state.annotations = config->value("annotations", json::object());
  if (auto ok = write_state(global.root, state); !ok) return abandon_cgroup(ok.error());
  if (!options.pid_file.empty()) {
    if (auto ok = write_file_atomically(options.pid_file, std::to_string(pid)); !ok) return abandon_cgroup(ok.error());
  }
  return {};
}

Result<void> start_container(const GlobalOptions& global, const std::string& id) {
  auto state = read_state(global.root, id);
  if (!state) return std::unexpected(state.error());
  const Status status = container_status(global.root, *state);
  if (status != Status::kCreated) {
    return failure(fmt::format("cannot start container {}: it is {}, not created", id, status_name(status)));
  }
  const std::string fifo_path = exec_fifo_path(global.root, id);
  // Non-blocking, so that a container process that died is noticed instead of waited for forever.
  UniqueFd fifo(::open(fifo_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fifo.valid()) return failure(fmt::format("cannot start container {}: {}: {}", id, fifo_path, errno_text()));
  for (;;) {
    pollfd ready{fifo.get(), POLLIN, 0};
    const int events = ::poll(&ready, 1, 100);
    if (events > 0) {
      char byte = 0;
      if (::read(fifo.get(), &byte, 1) == 1) break;
      if (ready.revents & POLLHUP) return failure(fmt::format("cannot start container {}: its process ended", id));
    }
    if (process_start_time(state->pid) != state->pid_start_time) {
      return failure(fmt::format("cannot start container {}: its process ended", id));
    }
  }
  ::unlink(fifo_path.c_str());
  return {};
}

Result<json> container_state_json(const GlobalOptions& global, const std::string& id) {
  auto state = read_state(global.root, id);
  if (!state) return std::unexpected(state.error());
  return state_json(*state, container_status(global.root, *state));
}

Result<int> parse_signal(const std::string& text) {
  static constexpr std::array<std::pair<std::string_view, int>, 31> kSignals = {{
      {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},   {"TRAP", SIGTRAP},
      {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},     {"KILL", SIGKILL}, {"USR1", SIGUSR1},
      {"SEGV", SIGSEGV},     {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
      {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
      {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
      {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"PWR", SIGPWR},
      {"SYS", SIGSYS},
  }};
  std::string_view name = text;
  if (name.starts_with("SIG")) name.remove_prefix(3);
  for (const auto& [known, number] : kSignals) {
    if (known == name) return number;
  }
  int number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (!text.empty() && error == std::errc{} && end == text.data() + text.size() && number > 0 && number < 65) {
    return number;
  }
  return failure(fmt::format("invalid signal '{}': a name (TERM, SIGKILL) or a number", text));
}

Result<void> kill_container(const GlobalOptions& global, const std::string& id, const std::string& signal_text) {
  auto signal = parse_signal(signal_text);
  if (!signal) return std::unexpected(signal.error());
  auto state = read_state(global.root, id);
  if (!state) return std::unexpected(state.error());
  const Status status = container_status(global.root, *state);
  if (status == Status::kStopped) return failure("container not running");
  if (::kill(state->pid, *signal) != 0) return failure(fmt::format("kill {}: {}", state->pid, errno_text()));
  // A frozen process cannot act on a signal (under cgroup v1 not even die of
  // SIGKILL): a paused container is thawed to end, as runc does.
  if (status == Status::kPaused && (*signal == SIGKILL || *signal == SIGTERM)) {
    if (auto ok = state_cgroup(*state).set_frozen(false); !ok) return ok;
  }
  return {};
}

Result<void> pause_container(const GlobalOptions& global, const std::string& id, bool pause) {
  auto state = read_state(global.root, id);
  if (!state) return std::unexpected(state.error());
  const Status status = container_status(global.root, *state);
  const Status from = pause ? Status::kRunning : Status::kPaused;
  if (status != from) {
    return failure(fmt::format("cannot {} container {}: it is {}, not {}", pause ? "pause" : "resume", id,
                               status_name(status), status_name(from)));
  }
  if (state->cgroup_version == 0) {
    return failure(
        fmt::format("cannot {} container {}: it has no cgroup (this host had no cgroup filesystem at "
                    "create), and the freezer is what pauses it",
                    pause ? "pause" : "resume", id));
  }
  return state_cgroup(*state).set_frozen(pause);
}

Result<void> update_container(const GlobalOptions& global, const std::string& id,
                              const oci::CgroupResources& resources) {
  auto state = read_state(global.root, id);
  if (!state) return std::unexpected(state.error());
  const Status status = container_status(global.root, *state);
  if (status == Status::kStopped) return failure(fmt::format("cannot update container {}: it is stopped", id));
  if (state->cgroup_version == 0) {
    return failure(
        fmt::format("cannot update container {}: it has no cgroup (this host had no cgroup filesystem "
                    "at create)",
                    id));
  }
  if (global.notes != nullptr) {
    global.notes->insert(global.notes->end(), resources.notes.begin(), resources.notes.end());
    if (resources.memory_limit || resources.cpu_quota || resources.cpuset_cpus) {
      global.notes->push_back(
          "update changes the cgroup's limits; the VM keeps the memory size and vCPUs it was created with");
    }
  }
  return state_cgroup(*state).apply(resources);
}

Result<void> delete_container(const GlobalOptions& global, const std::string& id, bool force) {
  auto state = read_state(global.root, id);
  if (!state) {
    // As runc: deleting what is already gone with --force is not an error.
    if (force && check_container_id(id)) return {};
    return std::unexpected(state.error());
  }
  const Status status = container_status(global.root, *state);
  if (status == Status::kRunning && !force) {
    return failure(fmt::format("cannot delete container {}: it is running (stop it first, or --force)", id));
  }
  const ContainerCgroup cgroup = state_cgroup(*state);
  if (status != Status::kStopped) {
    // A created container's process never ran the app: ending it is what delete means.
    ::kill(state->pid, SIGKILL);
    if (status == Status::kPaused) [[maybe_unused]]
      auto thawed = cgroup.set_frozen(false);
    for (int waited = 0; waited < 500 && process_start_time(state->pid) == state->pid_start_time; ++waited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // The teardown reaper (a CLONE_VM child of hyperlet) may outlive it by a moment: end what is left.
  for (pid_t pid : cgroup.processes()) ::kill(pid, SIGKILL);
  if (auto ok = cgroup.remove(); !ok) return ok;
  remove_container_dir(global.root, id);
  return {};
}

json list_containers(const GlobalOptions& global) {
  json list = json::array();
  for (const std::string& id : container_ids(global.root)) {
    if (auto state = read_state(global.root, id))
      list.push_back(state_json(*state, container_status(global.root, *state)));
  }
  return list;
}

Result<std::vector<int>> container_processes(const GlobalOptions& global, const std::string& id) {
  auto state = read_state(global.root, id);
  if (!state) return std::unexpected(state.error());
  if (container_status(global.root, *state) == Status::kStopped) return std::vector<int>{};
  // The cgroup's: hyperlet and, while the VM is torn down, its teardown reaper.
  if (state->cgroup_version != 0) {
    std::vector<int> pids;
    for (pid_t pid : state_cgroup(*state).processes()) pids.push_back(pid);
    if (!pids.empty()) return pids;
  }
  return std::vector<int>{state->pid};
}

json runtime_features() {
  return {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.1.0"},
      {"hooks", json::array()},
      {"mountOptions", json::array({"bind", "rbind", "ro", "rw"})},
      {"linux",
       {{"namespaces", json::array({"network", "pid", "ipc", "uts", "mount", "cgroup"})},
        {"capabilities", json::array()},
        {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
        {"seccomp", {{"enabled", false}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}}}},
      {"annotations",
       {{"hyperlet.dev/publish", "comma-separated `hyperlet run --publish` rules; default: none"},
        {"hyperlet.dev/allow-connect", "comma-separated `hyperlet run --allow-connect` rules; default: none"}}},
  };
}

}  // namespace hyperlet::runc
