#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "devices/network_policy.h"
#include "devices/volumes.h"
#include "memory/guest_layout.h"

namespace hyperlet {

enum class SyscallEntry { kAuto, kSyscall, kTrap };

// What the command line says. The image's manifest fills in what it leaves out:
// memory and arguments are replaced by the command line's, environment
// variables are merged (the command line wins for the same KEY).
struct RunOptions {
  std::string app_path;
  std::vector<std::string> arguments;    // argv[1..]
  bool arguments_given = false;          // anything after APP, even a lone "--"
  std::vector<std::string> environment;  // KEY=VALUE
  std::optional<std::uint64_t> memory_size;
  // --address-space: the guest's addresses, at least --memory; what lies beyond
  // the memory holds only reservations (PROT_NONE mappings). Default:
  // default_address_space().
  std::optional<std::uint64_t> address_space;
  // --cpus: vCPUs, each on its own host thread (1 when not given).
  std::optional<unsigned> cpus;
  std::vector<VolumeSpec> volumes;  // --volume HOST_DIR:GUEST_DIR[:ro]
  NetworkPolicy network;            // --publish, --allow-connect
  // --workdir: the app's initial working directory, a normalised absolute guest
  // path inside a volume or above one (as chdir could reach); "/" by default.
  std::optional<std::string> workdir;
  // --hostname: what uname(2) answers as the nodename ("hyperlet" by default).
  std::optional<std::string> hostname;
  bool exit_on_ready = false;
  std::optional<std::chrono::nanoseconds> timeout;
  SyscallEntry syscall_entry = SyscallEntry::kAuto;
  bool trace = false;
  bool quiet = false;  // --quiet: no line for the first request the policy denies
  bool stats = false;
  // --processes: how many child processes (each a microVM) the app may have
  // alive at once; 0: fork answers EAGAIN.
  unsigned max_processes = 0;
  // --no-seccomp clears it: the host's own syscall filter (vm/host_seccomp.h).
  bool seccomp = true;
  // `hyperlet snapshot -o FILE`: write the VM's state to FILE when the app calls
  // hyperlet::ready() (or, with at_syscall, when it first makes that syscall
  // through the host) and end the run with status 0.
  std::optional<std::string> snapshot_output;
  std::optional<std::uint64_t> snapshot_at_syscall;
  // `hyperlet run --restore FILE`: continue from a snapshot instead of booting APP.
  std::optional<std::string> restore_from;
  // Inside another program (include/hyperlet/host.h): no stop-signal handlers and
  // no teardown reaper; those are the program's business.
  bool embedded = false;
};

// `auto` is resolved by asking KVM: vm/syscall_entry_probe.h.

struct Manifest;

// The app's memory, argv[1..] and environment after applying the manifest.
struct EffectiveRun {
  std::uint64_t memory_size = 0;
  std::uint64_t address_space = 0;  // set by resolve_address_space
  std::vector<std::string> arguments;
  std::vector<std::string> environment;
};
// `default_memory`: without --memory or the manifest's (default_guest_memory).
EffectiveRun apply_manifest(const RunOptions& options, const Manifest* manifest,
                            std::uint64_t default_memory = kDefaultGuestMemory);

struct ImageNotes;
// The memory an image gets when neither the command line nor its manifest says.
std::uint64_t default_guest_memory(const ImageNotes& notes);
// The address space an image gets with `memory` when --address-space is not
// given: the memory, and for a Go program kGoRuntimeReservations more (at most
// kMaximumGuestMemory), as its runtime reserves that much at start.
std::uint64_t default_address_space(const ImageNotes& notes, std::uint64_t memory);
// Fills in run.address_space from --address-space, else the image manifest's
// (at least the run's memory), else the default; a usage error when
// --address-space is smaller than the memory.
Result<void> resolve_address_space(EffectiveRun& run, const RunOptions& options, const ImageNotes& notes);
// A line for stderr when an image is given less address space than its runtime
// needs to start (a Go program under kGoRuntimeGuestMemory); nullopt when it is not.
std::optional<std::string> memory_warning(const ImageNotes& notes, std::uint64_t address_space,
                                          const std::string& app_path);

// The service's defaults from the image's manifest, applied to the command line
// before anything is opened (the command line wins everywhere):
//   volumes: the command line gives each one's host directory (--volume
//     HOST_DIR:GUEST_PATH); without :ro or :rw it takes the manifest's mode. A
//     required volume missing is ExitStatus::kUsage naming the option to give;
//     a missing optional one is absent.
//   publish, allow-connect: the manifest's rules apply only when the command
//     line has none of that kind (then it replaces them all).
//   workdir, hostname: the manifest's when the command line gives none.
//   cpus: the default of --cpus, at most host_cpu_limit(); not for a snapshot.
// Shipped files are devices/shipped_files.h's.
Result<void> apply_manifest_service(RunOptions& options, const Manifest& manifest);

// The most vCPUs a run may have here: the host's online CPUs, at most abi::kMaxCpus.
unsigned host_cpu_limit();

}  // namespace hyperlet
