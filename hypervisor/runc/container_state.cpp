#include "runc/container_state.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hyperlet::runc {

const char* status_name(Status status) {
  switch (status) {
    case Status::kCreated:
      return "created";
    case Status::kRunning:
      return "running";
    case Status::kPaused:
      return "paused";
    case Status::kStopped:
      return "stopped";
  }
  return "stopped";
}

Result<void> check_container_id(const std::string& id) {
  const bool allowed =
      !id.empty() && id.size() <= 1024 && id != "." && id != ".." && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.';
      });
  if (!allowed) return fail(ExitStatus::kUsage, "invalid container id '{}': letters, digits and _+-. only", id);
  return {};
}

std::string container_dir(const std::string& root, const std::string& id) { return root + "/" + id; }
std::string exec_fifo_path(const std::string& root, const std::string& id) {
  return container_dir(root, id) + "/exec.fifo";
}

Result<void> write_file_atomically(const std::string& path, const std::string& text) {
  std::string temporary = path + ".tmp-XXXXXX";
  const int fd = mkstemp(temporary.data());
  if (fd < 0) return fail(ExitStatus::kUsage, "cannot write {}: {}", path, std::strerror(errno));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int error = errno;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed || ::rename(temporary.c_str(), path.c_str()) != 0) {
    const int why = written && closed ? errno : error;
    ::unlink(temporary.c_str());
    return fail(ExitStatus::kUsage, "cannot write {}: {}", path, std::strerror(why));
  }
  return {};
}

Result<void> write_state(const std::string& root, const ContainerState& state) {
  const nlohmann::json json = {
      {"id", state.id},
      {"pid", state.pid},
      {"pid_start_time", state.pid_start_time},
      {"bundle", state.bundle},
      {"rootfs", state.rootfs},
      {"created", state.created},
      {"annotations", state.annotations},
      {"cgroup", {{"version", state.cgroup_version}, {"directories", state.cgroup_directories}}},
  };
  return write_file_atomically(container_dir(root, state.id) + "/state.json", json.dump());
}

Result<ContainerState> read_state(const std::string& root, const std::string& id) {
  if (auto ok = check_container_id(id); !ok) return std::unexpected(ok.error());
  std::ifstream file(container_dir(root, id) + "/state.json");
  if (!file) return fail(ExitStatus::kUsage, "container {} does not exist", id);
  try {
    const nlohmann::json json = nlohmann::json::parse(file);
    ContainerState state;
    state.id = json.at("id").get<std::string>();
    state.pid = json.at("pid").get<int>();
    state.pid_start_time = json.at("pid_start_time").get<std::uint64_t>();
    state.bundle = json.at("bundle").get<std::string>();
    state.rootfs = json.at("rootfs").get<std::string>();
    state.created = json.at("created").get<std::string>();
    state.annotations = json.value("annotations", nlohmann::json::object());
    if (json.contains("cgroup")) {
      state.cgroup_version = json["cgroup"].at("version").get<int>();
      state.cgroup_directories = json["cgroup"].at("directories").get<std::vector<std::string>>();
      if (state.cgroup_version < 0 || state.cgroup_version > 2) throw std::out_of_range("cgroup version");
    }
    return state;
  } catch (const std::exception& error) {
    return fail(ExitStatus::kUsage, "container {}: its state file is damaged: {}", id, error.what());
  }
}

ContainerCgroup state_cgroup(const ContainerState& state) {
  const CgroupVersion version = state.cgroup_version == 2   ? CgroupVersion::kV2
                                : state.cgroup_version == 1 ? CgroupVersion::kV1
                                                            : CgroupVersion::kNone;
  // Only directories of the cgroup filesystem: a damaged state file never names others.
  std::vector<std::string> directories;
  for (const std::string& directory : state.cgroup_directories) {
    if (directory.starts_with(std::string(kCgroupMount) + "/") && directory.find("/..") == std::string::npos) {
      directories.push_back(directory);
    }
  }
  return ContainerCgroup::open(version, version == CgroupVersion::kNone ? std::vector<std::string>{} : directories);
}

std::vector<std::string> container_ids(const std::string& root) {
  std::vector<std::string> ids;
  DIR* directory = ::opendir(root.c_str());
  if (directory == nullptr) return ids;
  while (const dirent* entry = ::readdir(directory)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    struct stat info {};
    if (::stat((root + "/" + name + "/state.json").c_str(), &info) == 0) ids.push_back(name);
  }
  ::closedir(directory);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::uint64_t process_start_time(int pid) {
  if (pid <= 0) return 0;
  std::ifstream file(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  // The command name may hold spaces and ')': the fields start after the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field, state;
  fields >> state;  // field 3
  if (state == "Z" || state == "X") return 0;
  for (int index = 4; index < 22 && fields >> field; ++index) {
  }
  std::uint64_t start_time = 0;
  fields >> start_time;
  return start_time;
}

Status container_status(const std::string& root, const ContainerState& state) {
  if (state.pid <= 0 || process_start_time(state.pid) != state.pid_start_time) return Status::kStopped;
  struct stat info {};
  if (::stat(exec_fifo_path(root, state.id).c_str(), &info) == 0) return Status::kCreated;
  if (state_cgroup(state).frozen()) return Status::kPaused;
  return Status::kRunning;
}

nlohmann::json state_json(const ContainerState& state, Status status) {
  return {
      {"ociVersion", kOciVersion},        {"id", state.id},
      {"status", status_name(status)},    {"pid", status == Status::kStopped ? 0 : state.pid},
      {"bundle", state.bundle},           {"rootfs", state.rootfs},
      {"created", state.created},         {"owner", ""},
      {"annotations", state.annotations},
  };
}

}  // namespace hyperlet::runc
