#include "vm/run_options.h"

#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <unistd.h>

#include <algorithm>

#include "loader/manifest.h"

namespace hyperlet {

unsigned host_cpu_limit() {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return std::min<unsigned>(online > 0 ? static_cast<unsigned>(online) : 1, abi::kMaxCpus);
}
std::uint64_t default_guest_memory(const ImageNotes&) { return kDefaultGuestMemory; }

std::uint64_t default_address_space(const ImageNotes& notes, std::uint64_t memory) {
  if (!notes.go_runtime) return memory;
  return std::min(kMaximumGuestMemory, memory + kGoRuntimeReservations);
}

Result<void> resolve_address_space(EffectiveRun& run, const RunOptions& options, const ImageNotes& notes) {
  run.address_space = default_address_space(notes, run.memory_size);
  // The manifest's is a default too: never below the memory the run got.
  if (notes.manifest && notes.manifest->address_space) {
    run.address_space = std::max(*notes.manifest->address_space, run.memory_size);
  }
  if (options.address_space) run.address_space = *options.address_space;
  if (run.address_space < run.memory_size) {
    return fail(ExitStatus::kUsage, "--address-space {}M is smaller than the guest memory, {}M (--memory)",
                run.address_space >> 20, run.memory_size >> 20);
  }
  return {};
}

std::optional<std::string> memory_warning(const ImageNotes& notes, std::uint64_t address_space,
                                          const std::string& app_path) {
  if (!notes.go_runtime || address_space >= kGoRuntimeGuestMemory) return std::nullopt;
  return fmt::format(
      "{} is a Go program and gets {} MiB of address space: the Go runtime reserves about 512 MiB of it at "
      "start and stops with \"failed to reserve page summary memory\" below --address-space {}M; "
      "reservations cost neither memory nor host memory",
      app_path, address_space >> 20, kGoRuntimeGuestMemory >> 20);
}

EffectiveRun apply_manifest(const RunOptions& options, const Manifest* manifest, std::uint64_t default_memory) {
  EffectiveRun run;
  run.memory_size = options.memory_size.value_or(manifest != nullptr && manifest->memory_size ? *manifest->memory_size
                                                                                              : default_memory);
  if (options.arguments_given || manifest == nullptr || !manifest->arguments) {
    run.arguments = options.arguments;
  } else {
    run.arguments = *manifest->arguments;
  }
  if (manifest != nullptr) run.environment = manifest->environment;
  for (const std::string& variable : options.environment) set_variable(run.environment, variable);
  return run;
}

Result<void> apply_manifest_service(RunOptions& options, const Manifest& manifest) {
  for (const ManifestVolume& wanted : manifest.volumes) {
    auto given = std::find_if(options.volumes.begin(), options.volumes.end(),
                              [&](const VolumeSpec& spec) { return spec.guest_dir == wanted.path; });
    if (given != options.volumes.end()) {
      if (!given->mode_given) given->read_only = wanted.read_only;
    } else if (wanted.required) {
      return fail(ExitStatus::kUsage,
                  "cannot run {}: its manifest requires a volume at {}: give --volume HOST_DIR:{}{}", options.app_path,
                  wanted.path, wanted.path, wanted.read_only ? ":ro" : "");
    }
  }
  // The image's rules, checked as the command line's are: a bad one is the image's fault, named as such.
  auto image_rule = [&](const char* kind, const std::string& rule, const Error& error) {
    return fail(ExitStatus::kBadImage, "cannot run {}: its manifest's {} rule '{}': {}", options.app_path, kind, rule,
                error.message);
  };
  if (options.network.publish.empty()) {
    for (const std::string& text : manifest.publish) {
      auto rule = parse_publish_rule(text);
      if (!rule) return image_rule("publish", text, rule.error());
      options.network.publish.push_back(*rule);
    }
  }
  if (options.network.connect.empty()) {
    for (const std::string& text : manifest.allow_connect) {
      auto rules = parse_connect_rule(text);
      if (!rules) return image_rule("allow-connect", text, rules.error());
      options.network.connect.insert(options.network.connect.end(), rules->begin(), rules->end());
    }
  }
  if (!options.workdir && manifest.workdir) options.workdir = manifest.workdir;
  if (!options.hostname && manifest.hostname) options.hostname = manifest.hostname;
  // The vCPUs the service wants, as many as this host has: the image may have
  // been built for a bigger machine. A snapshot holds one vCPU.
  if (!options.cpus && manifest.cpus && !options.snapshot_output) {
    options.cpus = std::clamp<unsigned>(*manifest.cpus, 1, host_cpu_limit());
  }
  return {};
}

}  // namespace hyperlet
