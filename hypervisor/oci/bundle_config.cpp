#include "oci/bundle_config.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <utility>

#include "cli/run_names.h"
#include "devices/network_policy.h"
#include "devices/volumes.h"
#include "memory/guest_layout.h"
#include "oci/image_config.h"

namespace hyperlet::oci {

namespace {

using nlohmann::json;

constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::unexpected<Error> refuse(std::string_view field, std::string_view why) {
  return fail(ExitStatus::kUsage, "config.json: {}: {}", field, why);
}

constexpr std::array<std::pair<std::string_view, int>, 16> kResources = {{
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
}};

bool non_empty(const json& object, const char* key) {
  return object.contains(key) && !object[key].is_null() && !object[key].empty();
}

// A bind mount is type "bind" or has the bind/rbind option (runc accepts both).
bool is_bind_mount(const json& mount) {
  if (mount.value("type", "") == "bind") return true;
  for (const json& option : mount.value("options", json::array())) {
    if (option == "bind" || option == "rbind") return true;
  }
  return false;
}

Result<void> map_mounts(const json& config, const BundleFiles& files, BundleRun& run,
                        std::vector<std::string>& volumes) {
  for (const json& mount : config.value("mounts", json::array())) {
    const std::string destination = mount.at("destination").get<std::string>();
    if (!is_bind_mount(mount)) {
      // proc, sysfs, tmpfs, devpts, mqueue, cgroup: the app sees the guest
      // kernel's answers, never the host's filesystems, so these have no meaning.
      run.notes.push_back(fmt::format("mount {} (type {}) ignored: the guest kernel has no host filesystems",
                                      destination, mount.value("type", "none")));
      continue;
    }
    const std::string source = mount.at("source").get<std::string>();
    if (source.find(':') != std::string::npos || destination.find(':') != std::string::npos) {
      return refuse("mounts",
                    fmt::format("bind mount {} → {}: a path with ':' cannot be a volume", source, destination));
    }
    if (!destination.starts_with('/')) {
      return refuse("mounts", fmt::format("destination '{}' is not absolute", destination));
    }
    if (destination == "/dev" || destination.starts_with("/dev/") || destination == "/proc" ||
        destination.starts_with("/proc/") || destination == "/sys" || destination.starts_with("/sys/")) {
      // The kubelet's /dev/termination-log, /dev/shm: the guest kernel's own trees hold no host files.
      run.notes.push_back(fmt::format("bind mount {} → {} ignored: {} is the guest kernel's", source, destination,
                                      destination.substr(0, destination.find('/', 1))));
      continue;
    }
    if (!files.is_directory(source) && !files.is_regular_file(source)) {
      run.notes.push_back(
          fmt::format("bind mount {} → {} ignored: a volume is a directory or a regular file, this is neither", source,
                      destination));
      continue;
    }
    // A regular file (podman's /etc/hosts, /etc/resolv.conf, /etc/hostname) is a file volume.
    bool read_only = false;
    for (const json& option : mount.value("options", json::array())) read_only = read_only || option == "ro";
    volumes.push_back(fmt::format("{}:{}{}", source, destination, read_only ? ":ro" : ""));
  }
  return {};
}

Result<void> map_linux(const json& config, const BundleFiles& files, BundleRun& run) {
  if (!config.contains("linux")) return {};
  const json& linux_section = config["linux"];
  for (const json& name_space : linux_section.value("namespaces", json::array())) {
    const std::string type = name_space.at("type").get<std::string>();
    const std::string path = name_space.value("path", "");
    if (type == "network") {
      run.network = path.empty() ? NetworkNamespace{NetworkNamespace::Kind::kNew, ""}
                                 : NetworkNamespace{NetworkNamespace::Kind::kPath, path};
    } else if (type == "user") {
      return refuse("linux.namespaces",
                    "a user namespace cannot apply: hyperlet needs the host uid that may "
                    "open /dev/kvm, and the guest's ids are the guest kernel's");
    } else if (type == "pid" || type == "ipc" || type == "uts" || type == "mount" || type == "cgroup" ||
               type == "time") {
      // The VM is all of these: the app sees only its own process, the guest's
      // host name, no host mounts and no host IPC objects.
      run.notes.push_back(fmt::format("{} namespace{} not entered: the microVM already isolates it", type,
                                      path.empty() ? "" : " " + path));
    } else {
      return refuse("linux.namespaces", fmt::format("unknown namespace type '{}'", type));
    }
  }
  if (non_empty(linux_section, "devices")) {
    return refuse("linux.devices", "the app reaches no host devices from the microVM");
  }
  if (non_empty(linux_section, "uidMappings") || non_empty(linux_section, "gidMappings")) {
    return refuse("linux.uidMappings", "user namespaces are not supported");
  }
  run.cgroups_path = linux_section.value("cgroupsPath", "");
  if (linux_section.contains("resources")) {
    auto resources = parse_cgroup_resources(linux_section["resources"]);
    if (!resources) return std::unexpected(resources.error());
    run.cgroup_resources = std::move(*resources);
    run.notes.insert(run.notes.end(), run.cgroup_resources.notes.begin(), run.cgroup_resources.notes.end());
    if (const auto limit = run.cgroup_resources.memory_limit; limit && *limit > 0) {
      // The cgroup holds the guest's pages and hyperlet's own: the guest gets the
      // limit less hyperlet's reserve, in 2 MiB units, at most the largest guest.
      auto size = guest_memory_for_limit(static_cast<std::uint64_t>(*limit));
      if (!size) {
        return refuse("linux.resources.memory.limit",
                      fmt::format("{} bytes: too little for a VM: hyperlet keeps {} MiB of it for itself, and a "
                                  "guest needs at least {} MiB",
                                  *limit, kHostReserve >> 20, kMinimumGuestMemory >> 20));
      }
      run.options.push_back("--memory");
      run.options.push_back(fmt::format("{}M", *size >> 20));
    }
    if (auto vcpus = vcpus_for(run.cgroup_resources, files.host_cpus())) {
      run.options.push_back("--cpus");
      run.options.push_back(std::to_string(*vcpus));
    }
  }
  return {};
}

}  // namespace

std::vector<std::string> split_annotation_list(const std::string& value) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    std::string item = value.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) items.push_back(std::move(item));
    start = comma + 1;
  }
  return items;
}

Result<BundleRun> map_bundle_config(const json& config, const std::string& bundle_dir, bool have_console_socket,
                                    const BundleFiles& files) {
  try {
    if (!config.is_object()) return refuse("(top level)", "not a JSON object");
    BundleRun run;
    if (!config.contains("process")) return refuse("process", "missing: there is nothing to run");
    const json& process = config["process"];
    const json& root = config.at("root");
    run.rootfs = root.at("path").get<std::string>();
    if (!run.rootfs.starts_with('/')) run.rootfs = bundle_dir + "/" + run.rootfs;
    // The rootfs becomes `--volume ROOTFS:/`, where a ':' would move the split.
    if (run.rootfs.find(':') != std::string::npos) {
      return refuse("root.path", fmt::format("'{}': a path with ':' cannot be a volume", run.rootfs));
    }
    run.rootfs_read_only = root.value("readonly", false);

    if (non_empty(config, "hooks")) {
      return refuse("hooks", "hooks are not run: nothing may act on the container from the host's side");
    }
    run.terminal = process.value("terminal", false);
    if (run.terminal && !have_console_socket) {
      return refuse("process.terminal", "a terminal needs --console-socket");
    }

    const std::vector<std::string> args = process.value("args", std::vector<std::string>{});
    if (args.empty() || args[0].empty()) return refuse("process.args", "empty: no program to run");
    const std::vector<std::string> environment = process.value("env", std::vector<std::string>{});
    const std::string cwd = process.value("cwd", "/");
    if (!cwd.starts_with('/')) return refuse("process.cwd", fmt::format("'{}' is not absolute", cwd));

    if (args[0].find('/') != std::string::npos) {
      run.app_guest_path = normalize_guest_path(cwd, args[0]).value_or(args[0]);
    } else {
      std::string path = kDefaultPath;
      for (const std::string& variable : environment) {
        if (variable.starts_with("PATH=")) path = variable.substr(5);
      }
      for (const std::string& directory : split_annotation_list([&] {
             std::string commas = path;
             std::replace(commas.begin(), commas.end(), ':', ',');
             return commas;
           }())) {
        const std::string candidate = normalize_guest_path("/", directory + "/" + args[0]).value_or("");
        if (!candidate.empty() && files.regular_file_in_rootfs(run.rootfs, candidate)) {
          run.app_guest_path = candidate;
          break;
        }
      }
      if (run.app_guest_path.empty()) {
        return refuse("process.args", fmt::format("'{}' is not in the image's PATH ({})", args[0], path));
      }
    }
    run.app_arguments.assign(args.begin() + 1, args.end());

    for (const json& limit : process.value("rlimits", json::array())) {
      const std::string type = limit.at("type").get<std::string>();
      const auto known =
          std::find_if(kResources.begin(), kResources.end(), [&](const auto& entry) { return entry.first == type; });
      if (known == kResources.end()) return refuse("process.rlimits", fmt::format("unknown type '{}'", type));
      run.rlimits.push_back(
          {known->second, type, limit.at("soft").get<std::uint64_t>(), limit.at("hard").get<std::uint64_t>()});
    }

    // The order `hyperlet run` documents: options, then APP and its arguments.
    std::vector<std::string> volumes = {fmt::format("{}:/{}", run.rootfs, run.rootfs_read_only ? ":ro" : "")};
    if (auto ok = map_mounts(config, files, run, volumes); !ok) return std::unexpected(ok.error());
    for (const std::string& volume : volumes) {
      run.options.push_back("--volume");
      run.options.push_back(volume);
    }
    for (const std::string& variable : environment) {
      if (variable.find('=') == std::string::npos) {
        return refuse("process.env", fmt::format("'{}' is not KEY=VALUE", variable));
      }
      run.options.push_back("--env");
      run.options.push_back(variable);
    }
    run.options.push_back("--workdir");
    run.options.push_back(cwd);
    if (config.contains("hostname") && !config["hostname"].get<std::string>().empty()) {
      const std::string hostname = config["hostname"].get<std::string>();
      if (auto problem = hostname_problem(hostname))
        return refuse("hostname", fmt::format("'{}': {}", hostname, *problem));
      run.options.push_back("--hostname");
      run.options.push_back(hostname);
    }
    if (auto ok = map_linux(config, files, run); !ok) return std::unexpected(ok.error());

    const json annotations = config.value("annotations", json::object());
    for (const auto& [key, flag] :
         {std::pair{kPublishAnnotation, "--publish"}, std::pair{kAllowConnectAnnotation, "--allow-connect"}}) {
      if (!annotations.contains(key)) continue;
      for (const std::string& rule : split_annotation_list(annotations[key].get<std::string>())) {
        // Checked now, so that a bad rule fails `create` rather than the VM at start. (A
        // connect rule's host name is resolved by hyperlet at start, in the pod's network.)
        if (flag == std::string_view("--publish")) {
          if (auto parsed = parse_publish_rule(rule); !parsed) {
            return refuse(fmt::format("annotations.{}", key), parsed.error().message);
          }
        }
        run.options.push_back(flag);
        run.options.push_back(rule);
      }
    }
    if (process.contains("user") && process["user"].value("uid", 0) != 0) {
      run.notes.push_back(
          "process.user not applied: the app's identity is the guest kernel's, and hyperlet "
          "keeps the host uid that may open /dev/kvm");
    }
    return run;
  } catch (const json::exception& error) {
    return fail(ExitStatus::kUsage, "config.json: {}", error.what());
  }
}

}  // namespace hyperlet::oci
