#include "cli/manifest_options.h"

#include <fmt/format.h>

#include <charconv>

#include "loader/manifest_service.h"

namespace hyperlet {
namespace {

void add_list(CLI::App& command, const char* name, std::vector<std::string>& into, const std::string& help,
              const char* type) {
  command.add_option(name, into, help)->type_name(type)->allow_extra_args(false);
}

}  // namespace

void add_manifest_service_options(CLI::App& command, ManifestServiceLine& line) {
  add_list(command, "--volume", line.volumes,
           "A volume the service expects at GUEST_PATH (default rw, required); `run` takes its host directory "
           "from --volume HOST_DIR:GUEST_PATH, and refuses to start without a required one (repeatable; replaces "
           "the manifest's volume at GUEST_PATH)",
           "GUEST_PATH[:ro|:rw][:required|:optional]");
  add_list(command, "--unset-volume", line.unset_volumes, "Remove the manifest's volume at GUEST_PATH (repeatable)",
           "GUEST_PATH");
  add_list(command, "--publish", line.publish,
           "A default --publish rule of `run` (repeatable); a --publish on the run's command line replaces them all",
           "RULE");
  add_list(command, "--unset-publish", line.unset_publish, "Remove this --publish rule, as written (repeatable)",
           "RULE");
  add_list(command, "--allow-connect", line.allow_connect,
           "A default --allow-connect rule of `run` (repeatable); an --allow-connect on the run's command line "
           "replaces them all",
           "RULE");
  add_list(command, "--unset-allow-connect", line.unset_allow_connect,
           "Remove this --allow-connect rule, as written (repeatable)", "RULE");
  add_list(command, "--file", line.files,
           "Ship HOST_FILE inside the image, read-only at GUEST_PATH in the app (at most 256 KiB each, 1 MiB in "
           "all; repeatable; replaces the manifest's file at GUEST_PATH)",
           "HOST_FILE:GUEST_PATH");
  add_list(command, "--unset-file", line.unset_files, "Remove the shipped file at GUEST_PATH (repeatable)",
           "GUEST_PATH");
  command
      .add_option("--cpus", line.cpus,
                  "The number of vCPUs the service wants: the default of `run --cpus` (at most the host's CPUs)")
      ->type_name("N");
  command.add_flag("--unset-cpus", line.unset_cpus, "Remove the manifest's cpus");
  command.add_option("--workdir", line.workdir, "Default --workdir of `run`, an absolute guest path")->type_name("DIR");
  command.add_flag("--unset-workdir", line.unset_workdir, "Remove the manifest's working directory");
  command.add_option("--hostname", line.hostname, "Default --hostname of `run`")->type_name("NAME");
  command.add_flag("--unset-hostname", line.unset_hostname, "Remove the manifest's host name");
}

Result<void> read_manifest_service_options(const CLI::App& command, const ManifestServiceLine& line,
                                           ManifestChanges& changes) {
  auto both = [&](const char* option) {
    return fail(ExitStatus::kUsage, "--{0} and --unset-{0} contradict each other: give one", option);
  };
  for (const std::string& text : line.volumes) {
    auto volume = parse_manifest_volume(text);
    if (!volume) return std::unexpected(volume.error());
    changes.set_volumes.push_back(std::move(*volume));
  }
  changes.unset_volumes = line.unset_volumes;
  changes.add_publish = line.publish;
  changes.unset_publish = line.unset_publish;
  changes.add_allow_connect = line.allow_connect;
  changes.unset_allow_connect = line.unset_allow_connect;
  for (const std::string& text : line.files) {
    auto file = read_manifest_file(text);
    if (!file) return std::unexpected(file.error());
    changes.set_files.push_back(std::move(*file));
  }
  changes.unset_files = line.unset_files;
  if (command.count("--cpus") > 0) {
    if (line.unset_cpus) return both("cpus");
    std::uint32_t cpus = 0;
    const char* end = line.cpus.data() + line.cpus.size();
    auto [next, error] = std::from_chars(line.cpus.data(), end, cpus);
    if (line.cpus.empty() || error != std::errc{} || next != end || cpus == 0 || cpus > kManifestMaxCpus) {
      return fail(ExitStatus::kUsage, "invalid --cpus '{}': expected a number from 1 to {}", line.cpus,
                  kManifestMaxCpus);
    }
    changes.cpus = std::optional<std::uint32_t>(cpus);
  } else if (line.unset_cpus) {
    changes.cpus = std::optional<std::uint32_t>();
  }
  if (command.count("--workdir") > 0) {
    if (line.unset_workdir) return both("workdir");
    if (line.workdir != "/") {
      if (auto problem = manifest_path_problem(line.workdir)) {
        return fail(ExitStatus::kUsage, "invalid --workdir '{}': the guest path {}", line.workdir, *problem);
      }
    }
    changes.workdir = std::optional<std::string>(line.workdir);
  } else if (line.unset_workdir) {
    changes.workdir = std::optional<std::string>();
  }
  if (command.count("--hostname") > 0) {
    if (line.unset_hostname) return both("hostname");
    changes.hostname = std::optional<std::string>(line.hostname);  // checked with the whole manifest
  } else if (line.unset_hostname) {
    changes.hostname = std::optional<std::string>();
  }
  return {};
}

}  // namespace hyperlet
