// hyperlet-runc: an OCI runtime with runc's command line, so that containerd's
// io.containerd.runc.v2 shim (BinaryName), podman (--runtime) and the kubelet
// (a RuntimeClass) run a static image as a hyperlet microVM. See docs/kubernetes.md.
#include <fmt/format.h>
#include <hyperlet/abi.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <tuple>

#include "cli/units.h"
#include "core/version.h"
#include "runc/lifecycle.h"

namespace {

using namespace hyperlet;
using nlohmann::json;

struct Log {
  std::string path;
  std::string format = "text";

  // containerd's shim reads the last "error" line of a JSON log as the reason a command failed.
  void write(const char* level, const std::string& message) const {
    if (path.empty()) return;
    std::ofstream file(path, std::ios::app);
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    tm utc{};
    ::gmtime_r(&now.tv_sec, &utc);
    char time[32];
    std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%SZ", &utc);
    if (format == "json") {
      file << json{{"level", level}, {"msg", message}, {"time", time}}.dump() << '\n';
    } else {
      file << fmt::format("time=\"{}\" level={} msg=\"{}\"\n", time, level, message);
    }
  }
};

int report(const Log& log, const Error& error) {
  std::fflush(stdout);
  fmt::print(stderr, "hyperlet-runc: {}\n", error.message);
  log.write("error", error.message);
  return 1;
}

int print_json(const json& value) {
  fmt::print("{}\n", value.dump(2));
  return 0;
}

// `update`'s flags as runc spells them; each one given overrides --resources.
struct UpdateFlags {
  std::string resources_file;
  std::optional<std::string> memory, memory_reservation, memory_swap;
  std::optional<std::uint64_t> cpu_shares, cpu_period;
  std::optional<std::int64_t> cpu_quota, pids_limit;
  std::optional<std::string> cpuset_cpus, cpuset_mems;
};

Result<std::optional<std::int64_t>> memory_flag(const char* name, const std::optional<std::string>& text) {
  if (!text) return std::optional<std::int64_t>();
  if (*text == "-1") return std::optional<std::int64_t>(-1);
  auto bytes = parse_size(*text);
  if (!bytes) return fail(ExitStatus::kUsage, "update: --{} {}: {}", name, *text, bytes.error());
  return std::optional<std::int64_t>(static_cast<std::int64_t>(*bytes));
}

Result<oci::CgroupResources> update_resources(const UpdateFlags& flags) {
  oci::CgroupResources resources;
  if (!flags.resources_file.empty()) {
    std::ifstream file_stream;
    std::istream* input = &std::cin;
    if (flags.resources_file != "-") {
      file_stream.open(flags.resources_file);
      if (!file_stream) return fail(ExitStatus::kUsage, "update: cannot read {}", flags.resources_file);
      input = &file_stream;
    }
    json parsed = json::parse(*input, nullptr, false);
    if (parsed.is_discarded()) {
      return fail(ExitStatus::kUsage, "update: {} is not valid JSON",
                  flags.resources_file == "-" ? "standard input" : flags.resources_file);
    }
    auto from_file = oci::parse_cgroup_resources(parsed);
    if (!from_file) return std::unexpected(from_file.error());
    resources = std::move(*from_file);
  }
  for (auto [name, text, field] :
       {std::tuple{"memory", &flags.memory, &resources.memory_limit},
        std::tuple{"memory-reservation", &flags.memory_reservation, &resources.memory_reservation},
        std::tuple{"memory-swap", &flags.memory_swap, &resources.memory_swap}}) {
    auto value = memory_flag(name, *text);
    if (!value) return std::unexpected(value.error());
    if (*value) *field = *value;
  }
  if (flags.cpu_shares) resources.cpu_shares = flags.cpu_shares;
  if (flags.cpu_period) resources.cpu_period = flags.cpu_period;
  if (flags.cpu_quota) resources.cpu_quota = flags.cpu_quota;
  if (flags.cpuset_cpus) resources.cpuset_cpus = flags.cpuset_cpus;
  if (flags.cpuset_mems) resources.cpuset_mems = flags.cpuset_mems;
  if (flags.pids_limit) resources.pids_limit = flags.pids_limit;
  // The flags pass the same checks as config.json's fields.
  json checked = json::object();
  if (resources.cpu_shares) checked["cpu"]["shares"] = *resources.cpu_shares;
  if (resources.cpu_period) checked["cpu"]["period"] = *resources.cpu_period;
  if (resources.cpu_quota) checked["cpu"]["quota"] = *resources.cpu_quota;
  if (resources.cpuset_cpus) checked["cpu"]["cpus"] = *resources.cpuset_cpus;
  if (resources.cpuset_mems) checked["cpu"]["mems"] = *resources.cpuset_mems;
  if (auto ok = oci::parse_cgroup_resources(checked); !ok) return std::unexpected(ok.error());
  if (resources.empty()) return fail(ExitStatus::kUsage, "update: nothing to change (see hyperlet-runc update --help)");
  return resources;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "hyperlet-runc: an OCI runtime that runs a container's static x86-64 entrypoint as a hyperlet microVM, with "
      "runc's command line (for containerd's runc shim, podman --runtime, Kubernetes RuntimeClass). The VM's "
      "host process is the container's process: its pid, signals and exit status are the container's. "
      "Annotations: hyperlet.dev/publish (comma-separated `hyperlet run --publish` rules, bound in the "
      "container's network namespace) and hyperlet.dev/allow-connect (`--allow-connect` rules); both default to "
      "nothing: the app serves and reaches nothing unless they say so",
      "hyperlet-runc"};
  app.set_version_flag("-v,--version", fmt::format("hyperlet-runc version {}\nspec: {}\nhyperlet guest ABI: {}",
                                                   version_text(), runc::kOciVersion, abi::kAbiVersion));
  app.require_subcommand(1);
  // Global flags after the command too (conmon and the shim put some there);
  // subcommands inherit this when they are added, so it comes first.
  app.fallthrough();
  // Extras are collected, not errors, so that a refused command's arguments do
  // not hide the refusal; any other command with extras is refused below.
  app.allow_extras();

  runc::GlobalOptions global;
  Log log;
  bool debug = false;
  std::string rootless, criu;
  app.add_option("--root", global.root, "Where container state lives, one directory per id")
      ->default_str(runc::kDefaultRoot);
  app.add_option("--log", log.path, "Append errors and notes (fields ignored, and why) to FILE")->type_name("FILE");
  app.add_option("--log-format", log.format, "The --log format")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--systemd-cgroup", global.systemd_cgroup,
               "linux.cgroupsPath is slice:prefix:name; the cgroup is made where systemd would put that scope "
               "(hyperlet-runc does not ask systemd itself)");
  app.add_flag("--debug", debug, "Accepted for runc's callers; ignored");
  app.add_option("--rootless", rootless, "Accepted for runc's callers; ignored");
  app.add_option("--criu", criu, "Accepted for runc's callers; ignored (no checkpoints)");

  runc::CreateOptions create_options;
  std::string no_pivot_preserve;
  bool no_pivot = false, no_new_keyring = false;
  CLI::App* create = app.add_subcommand(
      "create",
      "Create container ID from a bundle: check config.json and the entrypoint, start the container's "
      "process, which waits for `start` (state: created)");
  create->add_option("ID", create_options.id, "The container's id")->required();
  create->add_option("-b,--bundle", create_options.bundle, "The bundle directory (default: the current one)");
  create->add_option("--pid-file", create_options.pid_file, "Write the container process's pid to FILE");
  create->add_option("--console-socket", create_options.console_socket,
                     "A unix socket to send the terminal's master to, when process.terminal is true");
  create->add_flag("--no-pivot", no_pivot, "Accepted for runc's callers; ignored (no root filesystem is pivoted)");
  create->add_flag("--no-new-keyring", no_new_keyring, "Accepted for runc's callers; ignored");
  create->add_option("--preserve-fds", no_pivot_preserve, "Accepted for runc's callers; ignored");

  std::string id;
  CLI::App* start = app.add_subcommand("start", "Run the app of created container ID (state: running)");
  start->add_option("ID", id, "The container's id")->required();

  CLI::App* state = app.add_subcommand("state", "Print container ID's state as runtime-spec state JSON");
  state->add_option("ID", id, "The container's id")->required();

  std::string signal = "SIGTERM";
  bool all = false;
  CLI::App* kill = app.add_subcommand(
      "kill", "Send SIGNAL to container ID's process: SIGTERM stops the app (exit status 143), SIGKILL ends the VM");
  kill->add_option("ID", id, "The container's id")->required();
  kill->add_option("SIGNAL", signal, "A name (TERM, SIGKILL) or number")->default_str("SIGTERM");
  kill->add_flag("-a,--all", all, "Every process of the container (there is one: the VM's)");

  bool force = false;
  CLI::App* remove = app.add_subcommand("delete", "Delete container ID's state; a running one only with --force");
  remove->add_option("ID", id, "The container's id")->required();
  remove->add_flag("-f,--force", force, "Kill the container's process (SIGKILL) first if it runs");

  std::string format = "table";
  bool quiet = false;
  CLI::App* list = app.add_subcommand("list", "List the containers under --root");
  list->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  list->add_flag("-q,--quiet", quiet, "Only the ids");

  CLI::App* ps = app.add_subcommand("ps", "List container ID's host processes (the VM's)");
  ps->add_option("ID", id, "The container's id")->required();
  ps->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  ps->allow_extras();

  CLI::App* features = app.add_subcommand("features", "Print what this runtime supports (runtime-spec features JSON)");

  CLI::App* pause = app.add_subcommand("pause", "Freeze running container ID's cgroup: the VM stops where it is");
  pause->add_option("ID", id, "The container's id")->required();
  CLI::App* resume = app.add_subcommand("resume", "Thaw paused container ID");
  resume->add_option("ID", id, "The container's id")->required();

  UpdateFlags update_flags;
  CLI::App* update = app.add_subcommand(
      "update",
      "Change container ID's cgroup limits (the VM keeps the memory size and vCPUs it was created with). "
      "Sizes take K, M, G suffixes; -1 means no limit");
  update->add_option("ID", id, "The container's id")->required();
  update
      ->add_option("-r,--resources", update_flags.resources_file,
                   "linux.resources JSON (runtime-spec) from FILE, or - for standard input; the flags below "
                   "override it")
      ->type_name("FILE");
  update->add_option("--memory", update_flags.memory, "Memory limit");
  update->add_option("--memory-reservation", update_flags.memory_reservation, "Memory reservation (soft limit)");
  update->add_option("--memory-swap", update_flags.memory_swap, "Memory plus swap limit");
  update->add_option("--cpu-share", update_flags.cpu_shares, "CPU shares (relative weight, 2-262144)");
  update->add_option("--cpu-period", update_flags.cpu_period, "CPU CFS period in µs");
  update->add_option("--cpu-quota", update_flags.cpu_quota, "CPU CFS quota in µs per period (-1: none)");
  update->add_option("--cpuset-cpus", update_flags.cpuset_cpus, "CPUs to run on (0-3,6)");
  update->add_option("--cpuset-mems", update_flags.cpuset_mems, "Memory nodes to allocate from");
  update->add_option("--pids-limit", update_flags.pids_limit, "Maximum number of host tasks (-1: none)");

  // What runc has and a microVM cannot do, each refused with one line rather than "unknown command".
  for (const char* name : {"exec", "checkpoint", "restore", "events", "run", "spec"}) {
    CLI::App* refused = app.add_subcommand(name,
                                           "Not supported by hyperlet-runc (one app per VM, started by "
                                           "create and start)");
    refused->group("Not supported");
    refused->prefix_command();  // whatever follows is not parsed: the command is refused as a whole
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);
    return report(log, {ExitStatus::kUsage, fmt::format("{} (see hyperlet-runc --help)", error.what())});
  }
  std::vector<std::string> notes;
  global.notes = &notes;
  auto finish = [&](const Result<void>& result) {
    for (const std::string& note : notes) log.write("warning", note);
    return result ? 0 : report(log, result.error());
  };

  CLI::App* command = app.get_subcommands().front();
  const bool refused_command = command->get_group() == "Not supported";
  if (!refused_command && !app.remaining().empty()) {
    std::string words;
    for (const std::string& word : app.remaining()) words += (words.empty() ? "" : " ") + word;
    return report(log, {ExitStatus::kUsage, fmt::format("{}: unexpected arguments: {} (see hyperlet-runc {} --help)",
                                                        command->get_name(), words, command->get_name())});
  }
  if (command == create) return finish(runc::create_container(global, create_options));
  if (command == start) return finish(runc::start_container(global, id));
  if (command == state) {
    auto json_state = runc::container_state_json(global, id);
    if (!json_state) return report(log, json_state.error());
    return print_json(*json_state);
  }
  if (command == kill) return finish(runc::kill_container(global, id, signal));
  if (command == remove) return finish(runc::delete_container(global, id, force));
  if (command == list) {
    const json containers = runc::list_containers(global);
    if (format == "json") return print_json(containers);
    if (!quiet) fmt::print("{:<20} {:<8} {:<10} {:<40} {}\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
    for (const json& container : containers) {
      if (quiet) {
        fmt::print("{}\n", container["id"].get<std::string>());
      } else {
        fmt::print("{:<20} {:<8} {:<10} {:<40} {}\n", container["id"].get<std::string>(), container["pid"].get<int>(),
                   container["status"].get<std::string>(), container["bundle"].get<std::string>(),
                   container["created"].get<std::string>());
      }
    }
    return 0;
  }
  if (command == ps) {
    auto pids = runc::container_processes(global, id);
    if (!pids) return report(log, pids.error());
    if (format == "json") return print_json(*pids);
    fmt::print("PID CMD\n");
    for (int pid : *pids) fmt::print("{} hyperlet\n", pid);
    return 0;
  }
  if (command == features) return print_json(runc::runtime_features());
  if (command == pause || command == resume) return finish(runc::pause_container(global, id, command == pause));
  if (command == update) {
    auto resources = update_resources(update_flags);
    if (!resources) return report(log, resources.error());
    return finish(runc::update_container(global, id, *resources));
  }
  return report(log, {ExitStatus::kUsage, fmt::format("{} is not supported: hyperlet-runc runs one app per microVM, "
                                                      "started by create and start (docs/kubernetes.md)",
                                                      command->get_name())});
}
