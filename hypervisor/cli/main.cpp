// hyperlet's command line (CLI11): `hyperlet run`, `pack`, --version, --help.
#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "cli/bench.h"
#include "cli/command_line.h"
#include "cli/env_file.h"
#include "cli/inspect.h"
#include "cli/manifest_options.h"
#include "cli/pack.h"
#include "cli/run_names.h"
#include "cli/units.h"
#include "core/exit_status.h"
#include "core/message_prefix.h"
#include "core/trace_output.h"
#include "core/version.h"
#include "devices/published_ports.h"
#include "devices/shipped_files.h"
#include "devices/synthesized_etc.h"
#include "devices/syscall_names.h"
#include "loader/app_image.h"
#include "loader/manifest_service.h"
#include "loader/manifest_writer.h"
#include "memory/guest_layout.h"
#include "vm/forked_child.h"
#include "vm/micro_vm.h"
#include "vm/stop_signals.h"

namespace {

using namespace hyperlet;

std::string exit_status_help() {
  std::string text = "Exit status:\n  0-255  the app's own exit status, passed through\n";
  for (const auto& entry : kExitStatusTable) {
    text += fmt::format("  {:<5}  {}\n", to_int(entry.status), entry.meaning);
  }
  text +=
      "  (an app that itself exits with one of these numbers is indistinguishable; "
      "hyperlet's own failures also print one line starting \"hyperlet:\")\n";
  return text;
}

int report(const Error& error) {
  std::fflush(stdout);
  // Empty: a silent end (SIGPIPE, as a shell shows it).
  if (!error.message.empty()) fmt::print(stderr, "{}: {}\n", message_prefix(), error.message);
  return to_int(error.status);
}

int usage_error(const std::string& message) { return report(Error{ExitStatus::kUsage, message}); }

// What `run` and `snapshot` share: the command line as typed, before checking.
struct RunCommandLine {
  std::string memory_text;
  std::string address_space_text;
  std::string cpus_text;
  std::string processes_text;
  std::string timeout_text;
  std::string stop_timeout_text;
  // HYPERLET_SYSCALL_ENTRY sets the default, so a test suite can run every hyperlet it starts in one mode.
  std::string entry_text = std::getenv("HYPERLET_SYSCALL_ENTRY") != nullptr && *std::getenv("HYPERLET_SYSCALL_ENTRY")
                               ? std::getenv("HYPERLET_SYSCALL_ENTRY")
                               : "auto";
  std::vector<std::string> env;
  std::vector<std::string> env_files;
  std::vector<std::string> volumes;
  std::string workdir;
  std::string hostname;
  std::string name;
  std::vector<std::string> publish;
  std::vector<std::string> allow_connect;
  bool no_seccomp = false;
  std::string trace_file;
};

void add_run_options(CLI::App& command, RunOptions& options, RunCommandLine& line) {
  command.add_option("APP", options.app_path,
                     "The static x86-64 ELF program to run. Everything after APP is the app's "
                     "argv[1..], unchanged: hyperlet's options come before APP (an optional -- may "
                     "separate APP from its arguments)");
  command
      .add_option("-m,--memory", line.memory_text,
                  "Guest memory size: a multiple of 2M from 8M to 16G, e.g. 64M, 1G, 1.5G (default: the "
                  "image's manifest, else 256M): what the app's heap and usable mappings may hold at once; "
                  "beyond it mmap, brk and mprotect answer ENOMEM")
      ->type_name("SIZE");
  command
      .add_option("--address-space", line.address_space_text,
                  "The guest's address space, at least --memory and up to 16G (default: --memory; for a Go "
                  "program --memory + 1G). Beyond the memory it holds only reservations, PROT_NONE mappings "
                  "such as the Go runtime's and glibc's thread arenas: they cost no memory, and the app pays "
                  "--memory for each part it makes usable. The host never gives the VM more than this")
      ->type_name("SIZE");
  command
      .add_option("--cpus", line.cpus_text,
                  "vCPUs, each on its own host thread, running the app's threads in parallel: 1 up to the "
                  "host's CPUs (at most 16). Default: the image's manifest (at most the host's CPUs), else 1")
      ->type_name("N");
  command
      .add_option("--processes", line.processes_text,
                  "Let the app fork (fork, vfork, posix_spawn): each child process is a microVM of its own in a "
                  "hyperlet process of its own, with a copy-on-write copy of the parent's memory, its fds, volumes "
                  "and policy; at most N children alive at once per process (0 to 4096). Default 0: fork fails "
                  "with EAGAIN and one `hyperlet:` line says so. With --cpus above 1 any thread may fork, and a "
                  "child has as many vCPUs")
      ->type_name("N");
  command
      .add_option("-e,--env", line.env,
                  "Set an environment variable in the app: KEY=VALUE, or KEY alone for hyperlet's own value of "
                  "KEY (left out when hyperlet has none) (repeatable; wins over --env-file and the manifest). The "
                  "app sees none of hyperlet's environment otherwise")
      ->type_name("KEY[=VALUE]")
      ->allow_extra_args(false);
  command
      .add_option("--env-file", line.env_files,
                  "Read environment variables from FILE, one KEY=VALUE or KEY per line as --env takes them; the "
                  "VALUE is the rest of the line, verbatim (no quotes or expansion); blank lines and lines "
                  "starting with # are skipped (repeatable, read in order)")
      ->type_name("FILE")
      ->allow_extra_args(false);
  command
      .add_option("-v,--volume", line.volumes,
                  "Grant the app the host directory (or the one regular file) HOST_PATH as GUEST_PATH "
                  "(repeatable). The app sees only granted directories and files; paths are resolved beneath "
                  "HOST_PATH on the host, so .. and symlinks cannot leave it; :ro makes writes EROFS; without "
                  ":ro or :rw the image manifest's mode for GUEST_PATH applies, else rw")
      ->type_name("HOST_PATH:GUEST_PATH[:ro|:rw]")
      ->allow_extra_args(false);
  command
      .add_option("-w,--workdir", line.workdir,
                  "The app's initial working directory, an absolute guest path: a directory in a --volume, or "
                  "one above a volume (as chdir could reach it); anything else is refused. Default: the image "
                  "manifest's, else /")
      ->type_name("DIR");
  command
      .add_option("--hostname", line.hostname,
                  "What uname(2) and gethostname answer in the app: letters, digits, '-' and '.', at most 64 "
                  "characters. Default: the image manifest's, else hyperlet")
      ->type_name("NAME");
  command
      .add_option("--name", line.name,
                  "Name this run: hyperlet's own messages start \"hyperlet[NAME]:\" and --stats shows it, so "
                  "that runs sharing a terminal or log can be told apart (letters, digits, '_', '.', '-')")
      ->type_name("NAME");
  command
      .add_option("-p,--publish", line.publish,
                  "Let the app serve on GUEST_PORT: [HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp] "
                  "(repeatable; default tcp, HOST_ADDR 0.0.0.0 or ::, IPv6 in brackets). A bind in the "
                  "app to GUEST_PORT binds HOST_ADDR:HOST_PORT on the host; binding or listening on "
                  "any other port is EACCES. Given, they replace the image manifest's rules")
      ->type_name("RULE")
      ->allow_extra_args(false);
  command
      .add_option("--allow-connect", line.allow_connect,
                  "Let the app connect (TCP) or send (UDP) to HOST:PORT or ADDR/PREFIX:PORT (repeatable; "
                  "PORT may be *, a HOST name is resolved at start). Anything else is EACCES; nothing is "
                  "reachable by default. Given, they replace the image manifest's rules")
      ->allow_extra_args(false);
  command.add_option("--stop-timeout", line.stop_timeout_text,
                     "After a SIGTERM the app handles, stop it if it has not exited within this long "
                     "(as docker stop; status 143). Default 10s");
  command.add_option("--timeout", line.timeout_text,
                     "Stop the app after this long: 500ms, 2s, 1m (a bare number is seconds); "
                     "exit status 124");
  command
      .add_option("--syscall-entry", line.entry_text,
                  "How the app's syscalls enter the guest kernel: syscall (LSTAR, hardware KVM), "
                  "trap (rewrite each syscall into int 0x81; needed on kvm_pvm), auto (ask KVM with a tiny probe "
                  "VM, cached per boot). Default: $HYPERLET_SYSCALL_ENTRY, else auto")
      ->check(CLI::IsMember({"auto", "syscall", "trap"}))
      ->default_str("auto");
  command.add_flag("--trace", options.trace,
                   "Print every syscall to stderr as strace does (name, decoded arguments, result or errno), "
                   "one whole line each, started on a line of its own");
  command
      .add_option("--trace-file", line.trace_file,
                  "--trace, into FILE instead of stderr (created with mode 0600, or truncated), so the app's "
                  "own output stays clean")
      ->type_name("FILE");
  command.add_flag("--quiet", options.quiet,
                   "No `hyperlet:` line for the first request the policy denies (a path outside every --volume, "
                   "a connect, bind or listen no rule grants); the app still gets its error");
  command.add_flag("--no-seccomp", line.no_seccomp,
                   "Run without hyperlet's own seccomp filter, which limits hyperlet (not the app) to the "
                   "host syscalls serving a guest needs; only for finding a hyperlet bug the filter stopped");
  command.add_flag("--stats", options.stats,
                   "Print at exit: VM exits by reason, hypercalls, syscalls by name, boot phase times, "
                   "the I/O that socket buffers and the file ring did without a syscall, and with "
                   "--address-space above --memory the memory in use and at most; each forked child "
                   "process prints its own, counted from the fork");
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t started = monotonic_ns();
  CLI::App app{"hyperlet: run a static x86-64 Linux program as a KVM microVM", "hyperlet"};
  app.set_version_flag("--version", "hyperlet " + version_text(fmt::format("guest ABI {}", abi::kAbiVersion)));
  // Every command's options on one page: what the man page is generated from.
  app.set_help_all_flag("--help-all", "Print this help with every command's options, and exit");
  app.footer(exit_status_help());
  app.require_subcommand(1);

  CLI::App* run = app.add_subcommand("run", "Run APP in a new microVM; its output and exit status are hyperlet's");
  CLI::App* snapshot = app.add_subcommand(
      "snapshot",
      "Run APP until it calls hyperlet::ready() (or makes --at-syscall's syscall) and write its whole "
      "state to a file that `hyperlet run --restore` continues from; exit status 0 when written");
  CLI::App* inspect =
      app.add_subcommand("inspect",
                         "Show what an image is and whether it can run: format, entry, segments, guest ABI, "
                         "manifest, syscall sites (exit status 0 if it can run, else as `run` would end)");
  CLI::App* manifest =
      app.add_subcommand("manifest",
                         "Write the manifest (defaults for `run`) and the table of syscall sites into IMAGE, "
                         "in place; the toolchain's last step after linking. Only what the options say changes: "
                         "the rest of the image's manifest stays");
  CLI::App* pack = add_pack_command(app);
  CLI::App* bench = bench::add_bench_command(app);
  // Only the named command's options, or all of them for help and diagnostics.
  const CLI::App* command_named = named_command(app, argc, argv);
  auto builds = [command_named](const CLI::App* command) {
    return command_named == nullptr || command_named == command;
  };

  RunOptions options;
  RunCommandLine line;
  std::string restore_path;
  if (builds(run)) {
    add_run_options(*run, options, line);
    run->add_option("--restore", restore_path,
                    "Continue from a snapshot FILE (written by `hyperlet snapshot`) instead of booting an APP: "
                    "its memory is mapped copy-on-write from FILE, so concurrent restores share every page they "
                    "do not write. The policy is this command line's (--volume, --publish, --allow-connect): a "
                    "file or port the app held that it does not grant ends the restore with status 125. No APP, "
                    "arguments, --env, --env-file, --memory, --address-space, --workdir or --hostname: those "
                    "come from the snapshot");
    run->add_flag("--exit-on-ready", options.exit_on_ready,
                  "End the run with status 0 as soon as the app calls hyperlet::ready() (start-up "
                  "experiments)");
  }

  std::string snapshot_output, at_syscall;
  if (builds(snapshot)) {
    add_run_options(*snapshot, options, line);
    snapshot->add_option("-o,--output", snapshot_output, "The snapshot file to write (replaced atomically)")
        ->required();
    snapshot->add_option("--at-syscall", at_syscall,
                         "Take the snapshot when the app first makes this syscall through the host, before it is "
                         "served (e.g. accept4, epoll_wait), for programs that never call hyperlet::ready()");
  }

  std::string image_path;
  bool json = false;
  if (builds(inspect)) {
    inspect->add_option("IMAGE", image_path, "The program file to inspect")->required();
    inspect->add_flag("--json", json, "Print the report as JSON");
  }

  ManifestChanges manifest_changes;
  std::string manifest_memory;
  std::string manifest_address_space;
  std::vector<std::string> manifest_args;
  bool manifest_no_args = false;
  ManifestServiceLine manifest_service;
  if (builds(manifest)) {
    manifest->add_option("IMAGE", image_path, "The static program to annotate")->required();
    manifest->add_option("--memory", manifest_memory, "Default guest memory, e.g. 64M");
    manifest->add_option("--address-space", manifest_address_space,
                         "Default guest address space, e.g. 2G: at least the memory; the part beyond it holds "
                         "PROT_NONE reservations, which cost no memory (run --address-space)");
    manifest
        ->add_option("--env", manifest_changes.set_environment,
                     "Default environment variable KEY=VALUE: replaces the manifest's KEY or adds it (repeatable)")
        ->allow_extra_args(false);
    manifest
        ->add_option("--unset-env", manifest_changes.unset_environment,
                     "Remove KEY from the manifest's environment (repeatable)")
        ->allow_extra_args(false);
    manifest
        ->add_option("--arg", manifest_args,
                     "Default argument for the app (repeatable, in order): together they replace the manifest's")
        ->allow_extra_args(false);
    manifest->add_flag("--no-args", manifest_no_args, "Remove the manifest's default arguments");
    manifest->add_flag("--reset", manifest_changes.start_empty,
                       "Start from an empty manifest instead of the image's (then apply the other options)");
    add_manifest_service_options(*manifest, manifest_service);
  }

  PackCommandLine pack_line;
  if (builds(pack)) add_pack_options(*pack, pack_line);

  bench::BenchOptions bench_options;
  if (builds(bench)) bench::add_bench_options(bench, bench_options, argc, argv);

  if (auto problem = command_word_problem(app, argc, argv)) return usage_error(*problem);
  SplitCommandLine split = split_app_arguments({run, snapshot}, argc, argv);
  std::vector<std::string>& command_line = split.ours;
  options.arguments_given = split.arguments_given;
  // CLI11 reads "--arg=" as a missing value; an empty value is a value ("--arg" "").
  for (std::size_t i = 0; i < command_line.size(); ++i) {
    if (command_line[i].starts_with("--") && command_line[i].size() > 3 &&
        command_line[i].find('=') == command_line[i].size() - 1) {
      command_line[i].pop_back();
      command_line.insert(command_line.begin() + static_cast<std::ptrdiff_t>(i) + 1, "");
      ++i;
    }
  }
  const std::vector<std::string> words_in_order(command_line.begin() + 1, command_line.end());
  std::reverse(command_line.begin(), command_line.end());
  command_line.pop_back();  // CLI11 takes the arguments without the program name, reversed
  try {
    app.parse(command_line);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);
    const auto parsed = app.get_subcommands();
    std::string hint;
    if (!parsed.empty()) {
      // The words after the command's name: where a misspelt option of it would be.
      const auto named = std::find(words_in_order.begin(), words_in_order.end(), parsed.front()->get_name());
      if (named != words_in_order.end()) {
        hint = unknown_option_hint(*parsed.front(), std::vector<std::string>(named + 1, words_in_order.end()));
      }
    }
    fmt::print(stderr, "hyperlet: {}{} (see hyperlet {}--help)\n", error.what(), hint,
               parsed.empty() ? "" : parsed.front()->get_name() + " ");
    return to_int(ExitStatus::kUsage);
  }
  // An option of `run` or `snapshot`, given on the command line (even as an empty value).
  auto given = [&](const char* option) {
    return (run->parsed() && run->count(option) > 0) || (snapshot->parsed() && snapshot->count(option) > 0);
  };
  if (given("--name")) {
    if (auto problem = run_name_problem(line.name)) {
      return usage_error(fmt::format("invalid --name '{}': {}", line.name, *problem));
    }
    set_run_name(line.name);
  }
  if (!split.options_after_app.empty()) {
    fmt::print(stderr, "{}: {}\n", message_prefix(), options_after_app_warning(split.options_after_app));
  }

  options.arguments = std::move(split.app_arguments);

  if (inspect->parsed()) return inspect_image(image_path, json);
  if (pack->parsed()) {
    auto digest = pack_image(pack_line);
    if (!digest) return report(digest.error());
    fmt::print("{}\n", *digest);
    return 0;
  }
  if (bench->parsed()) return bench::run_bench(*bench, bench_options, argc, argv);
  if (manifest->parsed()) {
    if (!manifest_memory.empty()) {
      auto size = parse_size(manifest_memory);
      if (!size) return report(Error{ExitStatus::kUsage, "invalid --memory: " + size.error()});
      if (auto problem = guest_memory_size_problem(*size)) {
        return report(Error{ExitStatus::kUsage, fmt::format("invalid --memory '{}': {}", manifest_memory, *problem)});
      }
      manifest_changes.memory_size = *size;
      manifest_changes.memory_text = manifest_memory;
    }
    if (!manifest_address_space.empty()) {
      auto size = parse_size(manifest_address_space);
      if (!size) return report(Error{ExitStatus::kUsage, "invalid --address-space: " + size.error()});
      if (auto problem = guest_memory_size_problem(*size)) {
        return report(Error{ExitStatus::kUsage,
                            fmt::format("invalid --address-space '{}': {}", manifest_address_space, *problem)});
      }
      manifest_changes.address_space = *size;
      manifest_changes.address_space_text = manifest_address_space;
    }
    for (const std::string& variable : manifest_changes.set_environment) {
      if (variable.find('=') == std::string::npos || variable.front() == '=') {
        return report(Error{ExitStatus::kUsage, fmt::format("invalid --env '{}': expected KEY=VALUE", variable)});
      }
    }
    if (manifest_no_args && !manifest_args.empty()) {
      return report(Error{ExitStatus::kUsage, "--no-args and --arg contradict each other: give one"});
    }
    if (!manifest_args.empty()) manifest_changes.arguments = manifest_args;
    if (manifest_no_args) manifest_changes.arguments = std::vector<std::string>{};
    if (auto ok = read_manifest_service_options(*manifest, manifest_service, manifest_changes); !ok) {
      return report(ok.error());
    }
    auto image = AppImage::open(image_path);
    if (!image) return report(image.error());
    const Manifest merged = apply_manifest_changes(image->notes().manifest, manifest_changes);
    if (auto problem = sizes_problem(merged)) {
      return usage_error(fmt::format("cannot write the manifest of {}: {}", image_path, *problem));
    }
    if (auto problem = service_problem(merged)) {
      return usage_error(fmt::format("cannot write the manifest of {}: {}", image_path, *problem));
    }
    auto written = write_manifest(image_path, merged);
    if (!written) return report(written.error());
    return 0;
  }

  // From here on a SIGINT or SIGTERM must stop the run, not be lost: even a name
  // resolution for --allow-connect below is start-up (vm/stop_signals.h).
  if (auto ok = install_stop_signals(); !ok) return report(ok.error());
  options.seccomp = !line.no_seccomp;
  if (!restore_path.empty()) {
    // The app, its arguments, environment, memory, working directory and host name are the snapshot's.
    if (!options.app_path.empty() || options.arguments_given || !line.env.empty() || !line.env_files.empty() ||
        given("--memory") || given("--address-space") || given("--workdir") || given("--hostname")) {
      return usage_error(
          "--restore takes no APP, arguments, --env, --env-file, --memory, --address-space, --workdir or "
          "--hostname: the snapshot has them");
    }
    if (options.exit_on_ready) {
      return report(Error{ExitStatus::kUsage, "--restore and --exit-on-ready: the snapshot is past ready()"});
    }
    options.restore_from = restore_path;
  } else if (options.app_path.empty()) {
    return report(Error{ExitStatus::kUsage, "APP is required (see hyperlet run --help)"});
  }
  if (snapshot->parsed()) {
    options.snapshot_output = snapshot_output;
    if (!at_syscall.empty()) {
      options.snapshot_at_syscall = syscall_number(at_syscall);
      if (!options.snapshot_at_syscall) {
        return report(Error{ExitStatus::kUsage, fmt::format("invalid --at-syscall '{}': not a Linux syscall name "
                                                            "(e.g. accept4, epoll_wait)",
                                                            at_syscall)});
      }
    }
  }
  const std::string& memory_text = line.memory_text;
  if (!memory_text.empty()) {
    auto memory = parse_size(memory_text);
    if (!memory) return report(Error{ExitStatus::kUsage, "invalid --memory: " + memory.error()});
    if (auto problem = guest_memory_size_problem(*memory)) {
      return report(Error{ExitStatus::kUsage, fmt::format("invalid --memory '{}': {}", memory_text, *problem)});
    }
    options.memory_size = *memory;
  }
  if (!line.address_space_text.empty()) {
    auto size = parse_size(line.address_space_text);
    if (!size) return report(Error{ExitStatus::kUsage, "invalid --address-space: " + size.error()});
    if (auto problem = guest_memory_size_problem(*size)) {
      return report(Error{ExitStatus::kUsage,
                          fmt::format("invalid --address-space '{}': {}", line.address_space_text, *problem)});
    }
    options.address_space = *size;
  }
  if (given("--cpus")) {
    auto cpus = parse_cpu_count(line.cpus_text, host_cpu_limit());
    if (!cpus) return usage_error("invalid --cpus " + cpus.error());
    if (*cpus > 1 && (!restore_path.empty() || snapshot->parsed())) {
      return usage_error("--cpus above 1 with snapshots: a snapshot holds one vCPU (run it with --cpus 1)");
    }
    options.cpus = *cpus;
  }
  if (given("--processes")) {
    unsigned processes = 0;
    const auto [end, error] =
        std::from_chars(line.processes_text.data(), line.processes_text.data() + line.processes_text.size(), processes);
    if (error != std::errc() || end != line.processes_text.data() + line.processes_text.size() || processes > 4096) {
      return usage_error(fmt::format("invalid --processes '{}': a whole number from 0 to 4096", line.processes_text));
    }
    options.max_processes = processes;
  }
  const std::string& timeout_text = line.timeout_text;
  if (!timeout_text.empty()) {
    auto timeout = parse_duration(timeout_text);
    if (!timeout) return report(Error{ExitStatus::kUsage, "invalid --timeout: " + timeout.error()});
    options.timeout = *timeout;
  }
  if (!line.stop_timeout_text.empty()) {
    auto stop_timeout = parse_duration(line.stop_timeout_text);
    if (!stop_timeout) return report(Error{ExitStatus::kUsage, "invalid --stop-timeout: " + stop_timeout.error()});
    set_stop_timeout(*stop_timeout);
  }
  // As docker run: the files first, in order, then --env; a later KEY replaces an earlier one.
  const HostEnvironment host_environment = process_environment();
  for (const std::string& path : line.env_files) {
    auto variables = read_env_file(path, host_environment);
    if (!variables) return report(variables.error());
    options.environment.insert(options.environment.end(), variables->begin(), variables->end());
  }
  for (const std::string& text : line.env) {
    auto variable = resolve_env_argument(text, host_environment);
    if (!variable) return report(variable.error());
    if (*variable) options.environment.push_back(std::move(**variable));
  }
  if (given("--workdir")) {
    if (!line.workdir.starts_with('/')) {
      return usage_error(fmt::format("invalid --workdir '{}': must be an absolute guest path", line.workdir));
    }
    auto normalized = normalize_guest_path("/", line.workdir);
    if (!normalized) return usage_error(fmt::format("invalid --workdir '{}': too long", line.workdir));
    options.workdir = std::move(*normalized);
  }
  if (given("--hostname")) {
    if (auto problem = hostname_problem(line.hostname)) {
      return usage_error(fmt::format("invalid --hostname '{}': {}", line.hostname, *problem));
    }
    options.hostname = line.hostname;
  }
  for (const std::string& text : line.volumes) {
    auto volume = parse_volume_spec(text);
    if (!volume) return report(volume.error());
    options.volumes.push_back(std::move(*volume));
  }
  for (const std::string& text : line.publish) {
    auto rule = parse_publish_rule(text);
    if (!rule) return report(rule.error());
    options.network.publish.push_back(*rule);
  }
  for (const std::string& text : line.allow_connect) {
    auto rules = parse_connect_rule(text);
    if (!rules) return report(rules.error());
    options.network.connect.insert(options.network.connect.end(), rules->begin(), rules->end());
  }
  if (!options.restore_from) {
    // The image's manifest describes the service; it fills in what the command line leaves out. An image
    // that cannot be opened is left to the run, which says why.
    if (auto image = AppImage::open(options.app_path); image && image->notes().manifest) {
      const Manifest& described = *image->notes().manifest;
      if (auto ok = apply_manifest_service(options, described); !ok) return report(ok.error());
      auto shipped = shipped_file_volumes(described.files, options.volumes);
      if (!shipped) return report(shipped.error());
      options.volumes.insert(options.volumes.end(), shipped->begin(), shipped->end());
    }
  }
  if (auto ok = options.network.check(); !ok) return report(ok.error());
  if (auto ok = check_published_ports_free(options.network); !ok) return report(ok.error());
  // /etc and the host's zoneinfo, read-only, where no volume of the command line is.
  for (VolumeSpec& volume : synthesized_system_volumes(options.volumes, options.hostname, options.network)) {
    options.volumes.push_back(std::move(volume));
  }
  const std::string& entry_text = line.entry_text;
  if (entry_text != "auto" && entry_text != "syscall" && entry_text != "trap") {
    return report(Error{ExitStatus::kUsage, fmt::format("invalid HYPERLET_SYSCALL_ENTRY '{}': expected auto, "
                                                        "syscall or trap",
                                                        entry_text)});
  }
  options.syscall_entry = entry_text == "trap"      ? SyscallEntry::kTrap
                          : entry_text == "syscall" ? SyscallEntry::kSyscall
                                                    : SyscallEntry::kAuto;
  // Last, so a command line refused above leaves an existing trace file alone.
  if (given("--trace-file")) {
    if (auto opened = open_trace_file(line.trace_file); !opened) return report(opened.error());
    options.trace = true;
  }

  RunStats stats;
  stats.started = started;
  auto outcome = run_microvm(options, stats);
  disarm_stop_timer();
  std::fflush(stdout);
  if (in_forked_child()) {
    // The parent's wait4 sees the app's death by its signal, as natively; a
    // CPU exception's report (status 128 + its signal) still says where.
    int signal = app_killed_by();
    const int status = outcome ? 0 : to_int(outcome.error().status);
    if (signal == 0 && status > 128 && status <= 128 + 11 && status != to_int(ExitStatus::kAppSigabrt)) {
      signal = status - 128;
    }
    if (signal != 0) {
      if (!outcome && (app_killed_by() == 0 || !app_killed_quietly())) report(outcome.error());
      die_of_signal(signal);
    }
  }
  if (options.stats) fmt::print(stderr, "{}", format_stats(stats));
  if (!outcome) return report(outcome.error());
  return *outcome;
}
