#include "runc/cgroups.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace hyperlet::runc {

namespace {

std::unexpected<Error> failure(std::string message) {
  return std::unexpected(Error{ExitStatus::kUsage, std::move(message)});
}

bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  std::string value = text.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

// One write, as the kernel wants a cgroup file written (a value per write).
Result<void> write_text(const std::string& path, const std::string& value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return failure(fmt::format("cgroup: cannot open {}: {}", path, std::strerror(errno)));
  const ssize_t written = ::write(fd, value.data(), value.size());
  const int error = errno;
  ::close(fd);
  if (written != static_cast<ssize_t>(value.size())) {
    return failure(fmt::format("cgroup: cannot write '{}' to {}: {}", value, path,
                               written < 0 ? std::strerror(error) : "short write"));
  }
  return {};
}

// The v1 trees: every controller hierarchy under the mount, but the unified one
// (hybrid hosts) and devices: its rules would have to let hyperlet open
// /dev/kvm, and the app reaches no other device, so the parent's rules stand.
std::vector<std::string> v1_trees(const std::string& mount_root) {
  std::vector<std::string> trees;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(mount_root, error)) {
    const std::string name = entry.path().filename();
    if (entry.is_symlink() || !entry.is_directory() || name == "unified" || name == "devices") continue;
    if (!exists(entry.path() / "cgroup.procs")) continue;
    trees.push_back(name);
  }
  std::sort(trees.begin(), trees.end());
  return trees;
}

bool tree_has_controller(const std::string& tree, const std::string& controller) {
  std::stringstream names(tree);
  for (std::string name; std::getline(names, name, ',');) {
    if (name == controller) return true;
  }
  return false;
}

// A new v1 cpuset cgroup starts with no CPUs and no memory nodes, and a process
// cannot join it then: it gets its parent's, as runc does.
Result<void> inherit_cpuset(const std::string& directory) {
  const std::string parent = std::filesystem::path(directory).parent_path();
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    const std::string path = directory + "/" + file;
    if (!exists(path) || !read_text(path).empty()) continue;
    if (auto ok = write_text(path, read_text(parent + "/" + file)); !ok) return ok;
  }
  return {};
}

// v2: a cgroup's controllers are those its parent enables for its children.
void enable_controllers(const std::string& directory) {
  const std::string available = read_text(directory + "/cgroup.controllers");
  std::stringstream names(available);
  for (std::string name; names >> name;) {
    if (name == "cpu" || name == "cpuset" || name == "memory" || name == "pids") {
      // Failing here (a controller the parent cannot delegate) shows up as a missing file in apply().
      [[maybe_unused]] auto ignored = write_text(directory + "/cgroup.subtree_control", "+" + name);
    }
  }
}

// /proc/TID/stat's state and flags fields.
struct TaskState {
  char state = '?';
  unsigned long flags = 0;
};

TaskState task_state(const std::string& tid) {
  const std::string text = read_text("/proc/" + tid + "/stat");
  const std::size_t close = text.rfind(')');
  TaskState task;
  if (close == std::string::npos || close + 2 >= text.size()) return task;
  std::stringstream fields(text.substr(close + 2));
  std::string skipped;
  fields >> task.state >> skipped >> skipped >> skipped >> skipped >> skipped >> task.flags;
  return task;
}

// A v2 cgroup asked to freeze whose only unfrozen tasks are kernel threads: every
// other task of it is asleep (in the freezer) rather than running.
bool only_kernel_threads_run(const std::string& directory) {
  constexpr unsigned long kKernelThread = 0x00200000;  // PF_KTHREAD
  std::stringstream threads(read_text(directory + "/cgroup.threads"));
  bool kernel_thread = false;
  for (std::string tid; threads >> tid;) {
    const TaskState task = task_state(tid);
    if ((task.flags & kKernelThread) != 0) {
      kernel_thread = true;
    } else if (task.state == 'R' || task.state == '?') {
      return false;
    }
  }
  return kernel_thread;
}

std::string limit_or_max(std::int64_t value) { return value <= 0 ? "max" : std::to_string(value); }

}  // namespace

CgroupVersion detect_cgroup_version(const std::string& mount_root) {
  if (exists(mount_root + "/cgroup.controllers")) return CgroupVersion::kV2;
  return v1_trees(mount_root).empty() ? CgroupVersion::kNone : CgroupVersion::kV1;
}

std::string own_cgroup(const std::string& proc_self_cgroup, const std::string& controller) {
  std::stringstream lines(proc_self_cgroup);
  for (std::string line; std::getline(lines, line);) {
    const std::size_t first = line.find(':');
    const std::size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const bool match = controller.empty() ? controllers.empty()
                                          : controllers == controller || controllers == "name=" + controller ||
                                                tree_has_controller(controllers, controller) ||
                                                // a tree mounted as "cpu,cpuacct" is listed as "cpu,cpuacct" too
                                                tree_has_controller(controller, controllers);
    if (match) return line.substr(second + 1);
  }
  return "/";
}

Result<ContainerCgroup> ContainerCgroup::create(CgroupVersion version, const std::string& mount_root,
                                                const std::string& relative_path, const std::string& proc_self_cgroup) {
  std::vector<std::string> trees;
  if (version == CgroupVersion::kV2) trees.push_back("");
  if (version == CgroupVersion::kV1) trees = v1_trees(mount_root);
  if (trees.empty()) return failure(fmt::format("cgroup: no cgroup filesystem at {}", mount_root));
  std::vector<std::string> leaves;
  std::vector<std::string> made;  // to undo on failure, deepest last
  auto undo = [&](Error error) -> Result<ContainerCgroup> {
    for (auto directory = made.rbegin(); directory != made.rend(); ++directory) ::rmdir(directory->c_str());
    return std::unexpected(std::move(error));
  };
  for (const std::string& tree : trees) {
    const std::string tree_root = tree.empty() ? mount_root : mount_root + "/" + tree;
    std::string path = relative_path;
    if (!path.starts_with('/')) {
      const std::string own = own_cgroup(proc_self_cgroup, tree);
      path = (own == "/" ? "" : own) + "/" + path;
    }
    std::string directory = tree_root;
    std::stringstream parts(path);
    for (std::string part; std::getline(parts, part, '/');) {
      if (part.empty()) continue;
      if (version == CgroupVersion::kV2) enable_controllers(directory);
      directory += "/" + part;
      if (::mkdir(directory.c_str(), 0755) == 0) {
        made.push_back(directory);
      } else if (errno != EEXIST) {
        return undo({ExitStatus::kUsage, fmt::format("cgroup: cannot create {}: {}", directory, std::strerror(errno))});
      }
      if (version == CgroupVersion::kV1 && tree_has_controller(tree, "cpuset")) {
        if (auto ok = inherit_cpuset(directory); !ok) return undo(ok.error());
      }
    }
    leaves.push_back(directory);
  }
  return ContainerCgroup(version, std::move(leaves));
}

ContainerCgroup ContainerCgroup::open(CgroupVersion version, std::vector<std::string> directories) {
  return ContainerCgroup(version, std::move(directories));
}

std::string ContainerCgroup::directory_of(const std::string& controller) const {
  if (version_ == CgroupVersion::kV2) return directories_.empty() ? "" : directories_.front();
  // Each v1 tree's files name its controllers: memory.limit_in_bytes, cpu.shares...
  static constexpr std::pair<const char*, const char*> kMarkers[] = {
      {"memory", "memory.limit_in_bytes"}, {"cpu", "cpu.shares"}, {"cpuset", "cpuset.cpus"}, {"pids", "pids.max"},
      {"freezer", "freezer.state"},
  };
  for (const auto& [name, marker] : kMarkers) {
    if (controller != name) continue;
    for (const std::string& directory : directories_) {
      if (exists(directory + "/" + marker)) return directory;
    }
  }
  return "";
}

Result<void> ContainerCgroup::apply(const oci::CgroupResources& resources) const {
  auto write = [&](const char* controller, const std::string& file, const std::string& value) -> Result<void> {
    const std::string directory = directory_of(controller);
    if (directory.empty()) {
      return failure(fmt::format("cgroup: cannot apply {} = {}: this host has no {} controller for the container", file,
                                 value, controller));
    }
    return write_text(directory + "/" + file, value);
  };
  const bool v2 = version_ == CgroupVersion::kV2;
  Result<void> ok;
  if (resources.memory_limit) {
    const std::int64_t limit = *resources.memory_limit;
    ok = v2 ? write("memory", "memory.max", limit_or_max(limit))
            : write("memory", "memory.limit_in_bytes", std::to_string(limit <= 0 ? -1 : limit));
    // v1 refuses a limit above memory+swap's: that one is raised first, then the limit again.
    if (!ok && !v2 && resources.memory_swap) {
      if (auto swap = write("memory", "memory.memsw.limit_in_bytes", std::to_string(*resources.memory_swap)); swap) {
        ok = write("memory", "memory.limit_in_bytes", std::to_string(limit <= 0 ? -1 : limit));
      }
    }
    if (!ok) return ok;
  }
  if (resources.memory_swap) {
    const std::int64_t swap = *resources.memory_swap;
    if (v2) {
      // memory.swap.max counts swap alone; the spec's value is memory + swap.
      const std::int64_t limit = resources.memory_limit.value_or(-1);
      const std::string value =
          swap <= 0 || limit <= 0 ? "max" : std::to_string(std::max<std::int64_t>(swap - limit, 0));
      if (ok = write("memory", "memory.swap.max", value); !ok) return ok;
    } else if (exists(directory_of("memory") + "/memory.memsw.limit_in_bytes")) {
      if (ok = write("memory", "memory.memsw.limit_in_bytes", std::to_string(swap <= 0 ? -1 : swap)); !ok) return ok;
    } else if (swap > 0 && swap != resources.memory_limit.value_or(-1)) {
      return failure("cgroup: linux.resources.memory.swap cannot apply: this host's kernel accounts no swap");
    }
  }
  if (resources.memory_reservation) {
    const std::int64_t reservation = *resources.memory_reservation;
    ok = v2 ? write("memory", "memory.low", reservation <= 0 ? "0" : std::to_string(reservation))
            : write("memory", "memory.soft_limit_in_bytes", std::to_string(reservation <= 0 ? -1 : reservation));
    if (!ok) return ok;
  }
  if (resources.memory_swappiness && !v2) {
    if (ok = write("memory", "memory.swappiness", std::to_string(*resources.memory_swappiness)); !ok) return ok;
  }
  if (resources.cpu_shares) {
    ok = v2 ? write("cpu", "cpu.weight", std::to_string(oci::cpu_weight_from_shares(*resources.cpu_shares)))
            : write("cpu", "cpu.shares", std::to_string(*resources.cpu_shares));
    if (!ok) return ok;
  }
  if (resources.cpu_quota || resources.cpu_period) {
    const std::uint64_t period = resources.cpu_period.value_or(100000);
    if (v2) {
      const std::string quota = resources.cpu_quota ? limit_or_max(*resources.cpu_quota) : "max";
      if (ok = write("cpu", "cpu.max", fmt::format("{} {}", quota, period)); !ok) return ok;
    } else {
      if (resources.cpu_period) {
        if (ok = write("cpu", "cpu.cfs_period_us", std::to_string(period)); !ok) return ok;
      }
      if (resources.cpu_quota) {
        const std::int64_t quota = *resources.cpu_quota <= 0 ? -1 : *resources.cpu_quota;
        if (ok = write("cpu", "cpu.cfs_quota_us", std::to_string(quota)); !ok) return ok;
      }
    }
  }
  if (resources.cpuset_cpus) {
    if (ok = write("cpuset", "cpuset.cpus", *resources.cpuset_cpus); !ok) return ok;
  }
  if (resources.cpuset_mems) {
    if (ok = write("cpuset", "cpuset.mems", *resources.cpuset_mems); !ok) return ok;
  }
  if (resources.pids_limit) {
    if (ok = write("pids", "pids.max", limit_or_max(*resources.pids_limit)); !ok) return ok;
  }
  return {};
}

Result<void> ContainerCgroup::add_process(pid_t pid) const {
  for (const std::string& directory : directories_) {
    if (auto ok = write_text(directory + "/cgroup.procs", std::to_string(pid)); !ok) return ok;
  }
  return {};
}

Result<void> ContainerCgroup::set_frozen(bool frozen) const {
  const bool v2 = version_ == CgroupVersion::kV2;
  const std::string directory = directory_of("freezer");
  if (directory.empty()) return failure("cgroup: this host has no freezer for the container");
  if (v2) {
    if (auto ok = write_text(directory + "/cgroup.freeze", frozen ? "1" : "0"); !ok) return ok;
  } else {
    if (auto ok = write_text(directory + "/freezer.state", frozen ? "FROZEN" : "THAWED"); !ok) return ok;
  }
  // Freezing takes effect when every task has stopped (v1: FREEZING until then).
  const std::string want = v2 ? (frozen ? "frozen 1" : "frozen 0") : (frozen ? "FROZEN" : "THAWED");
  const std::string file = directory + (v2 ? "/cgroup.events" : "/freezer.state");
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (read_text(file).find(want) != std::string::npos) return {};
    // Kernels before 6.13 put KVM's huge-page recovery thread, a kernel thread
    // the v2 freezer never freezes, into the VM creator's cgroup: "frozen 1"
    // never comes, though every task of hyperlet's is held.
    if (v2 && frozen && attempt >= 20 && only_kernel_threads_run(directory)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return failure(fmt::format("cgroup: {} did not become '{}' within 2 s", file, want));
}

bool ContainerCgroup::frozen() const {
  const std::string directory = directory_of("freezer");
  if (directory.empty()) return false;
  if (version_ == CgroupVersion::kV2) return read_text(directory + "/cgroup.freeze") == "1";
  return read_text(directory + "/freezer.state") == "FROZEN";
}

std::vector<pid_t> ContainerCgroup::processes() const {
  std::vector<pid_t> pids;
  if (directories_.empty()) return pids;
  std::stringstream list(read_text(directories_.front() + "/cgroup.procs"));
  for (pid_t pid = 0; list >> pid;) pids.push_back(pid);
  return pids;
}

Result<void> ContainerCgroup::remove() const {
  for (const std::string& directory : directories_) {
    for (int attempt = 0;; ++attempt) {
      if (::rmdir(directory.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY || attempt == 100) {
        return failure(fmt::format("cgroup: cannot remove {}: {}", directory, std::strerror(errno)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return {};
}

}  // namespace hyperlet::runc
