#include "vm/micro_vm.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "arch/cpuid.h"
#include "arch/descriptor_tables.h"
#include "core/message_prefix.h"
#include "core/trace_output.h"
#include "core/unique_fd.h"
#include "devices/executables.h"
#include "devices/host_syscalls.h"
#include "devices/syscall_decoding.h"
#include "devices/syscall_names.h"
#include "kvm/kvm.h"
#include "kvm/kvm_stats.h"
#include "kvm/supported_cpuid_cache.h"
#include "loader/app_image.h"
#include "loader/initial_stack.h"
#include "loader/kernel_image.h"
#include "loader/vdso_image.h"
#include "memory/bus_errors.h"
#include "memory/guest_layout.h"
#include "memory/guest_memory.h"
#include "memory/page_tables.h"
#include "snapshot/host_state.h"
#include "snapshot/machine_identity.h"
#include "snapshot/snapshot_file.h"
#include "snapshot/vcpu_state.h"
#include "vm/exec_carried.h"
#include "vm/fault_report.h"
#include "vm/flush_timer.h"
#include "vm/forked_child.h"
#include "vm/host_seccomp.h"
#include "vm/hypercalls.h"
#include "vm/kept_dirty_pages.h"
#include "vm/stop_signals.h"
#include "vm/syscall_entry_probe.h"
#include "vm/teardown_reaper.h"
#include "vm/vcpu_identity.h"
#include "vm/vcpu_run_clock.h"
#include "vm/vcpu_setup.h"
#include "vm/vfork_handoff.h"

namespace hyperlet {
namespace {

// Where KVM found no page behind a guest address, when it says
// (KVM_EXIT_MEMORY_FAULT, Linux 6.8; the build's headers may be older).
std::optional<std::uint64_t> memory_fault_address(const kvm_run& run) {
  constexpr std::uint32_t kExitMemoryFault = 39;
  if (run.exit_reason != kExitMemoryFault) return std::nullopt;
  std::uint64_t gpa = 0;  // struct { __u64 flags; __u64 gpa; __u64 size; } memory_fault
  std::memcpy(&gpa, reinterpret_cast<const std::byte*>(&run.padding) + 8, sizeof gpa);
  return gpa;
}

std::string exit_reason_name(std::uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_IO:
      return "io";
    case KVM_EXIT_HLT:
      return "hlt";
    case KVM_EXIT_MMIO:
      return "mmio";
    case KVM_EXIT_SHUTDOWN:
      return "shutdown";
    case KVM_EXIT_FAIL_ENTRY:
      return "fail-entry";
    case KVM_EXIT_INTERNAL_ERROR:
      return "internal-error";
    case KVM_EXIT_INTR:
      return "interrupted";
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      return "irq-window";
    default:
      return fmt::format("reason-{}", reason);
  }
}

std::uint32_t cpuid_edx(const std::vector<kvm_cpuid_entry2>& cpuid, std::uint32_t leaf) {
  for (const auto& entry : cpuid) {
    if (entry.function == leaf) return entry.edx;
  }
  return 0;
}

std::string absolute_path(const std::string& path) {
  std::error_code error;
  auto absolute = std::filesystem::weakly_canonical(path, error);
  return error ? path : absolute.string();
}

// execve's image and what its process keeps (abi::ExecArgs).
struct ExecRequest {
  std::vector<std::string> arguments;    // argv, argv[0] included
  std::vector<std::string> environment;  // KEY=VALUE
  std::string guest_path;
  std::uint32_t process_id = 0;
  std::uint32_t parent_process_id = 0;
  std::uint64_t signals_ignored = 0;
  std::uint64_t signals_blocked = 0;
  abi::ExecCarried carried{};  // pending signals and signalfds
};

// Linux's limits on execve's arrays: MAX_ARG_STRINGS, MAX_ARG_STRLEN.
constexpr std::size_t kMaxExecStrings = 0x7fffffff / 8;
constexpr std::size_t kMaxExecString = 32 * 4096;

// A NULL-terminated array of strings in app memory (NULL itself: none).
std::expected<std::vector<std::string>, int> read_string_array(const SyscallContext& context, std::uint64_t address,
                                                               std::uint64_t& total) {
  std::vector<std::string> strings;
  if (address == 0) return strings;
  for (std::size_t i = 0;; ++i) {
    if (i >= kMaxExecStrings) return std::unexpected(E2BIG);
    auto pointer = context.read<std::uint64_t>(address + i * 8);
    if (!pointer) return std::unexpected(EFAULT);
    if (*pointer == 0) return strings;
    auto text = context.user_string(*pointer, kMaxExecString);
    if (!text) return std::unexpected(context.user_span(*pointer, 1) ? E2BIG : EFAULT);
    total += text->size() + 1 + 8;
    strings.push_back(std::move(*text));
  }
}

// A hypercall the guest made that the host has not served yet (a snapshot taken
// at a syscall): its number and argument address.
struct PendingHypercall {
  std::uint64_t call;
  std::uint32_t argument;
};

class MicroVm {
 public:
  MicroVm(const RunOptions& options, RunStats& stats) : options_(options), stats_(stats) {}

  Result<int> run() {
    if (!options_.embedded) {
      if (auto ok = install_stop_signals(); !ok) return std::unexpected(ok.error());
    }
    if (auto stop = stop_requested("options")) return std::unexpected(*stop);
    if (options_.restore_from) return run_restored();
    auto volumes = open_volumes(options_.volumes);
    if (!volumes) return std::unexpected(volumes.error());
    auto image = AppImage::open(options_.app_path);
    if (!image) return std::unexpected(image.error());
    effective_ = apply_manifest(options_, image->notes().manifest ? &*image->notes().manifest : nullptr,
                                default_guest_memory(image->notes()));
    if (auto ok = resolve_address_space(effective_, options_, image->notes()); !ok) return std::unexpected(ok.error());
    if (auto warning = memory_warning(image->notes(), effective_.address_space, options_.app_path)) {
      fmt::print(stderr, "{}: warning: {}\n", message_prefix(), *warning);
    }
    auto layout = compute_guest_layout(effective_.address_space, image->start(), image->end(), effective_.memory_size);
    if (!layout) return std::unexpected(layout.error());
    layout_ = *layout;
    if (auto stop = stop_requested("image")) return std::unexpected(*stop);

    auto kvm = KvmSystem::open();
    if (!kvm) return std::unexpected(kvm.error());
    auto vm = VmFd::create(*kvm);
    if (!vm) return std::unexpected(vm.error());
    auto memory = GuestMemory::create(effective_.address_space);
    if (!memory) return std::unexpected(memory.error());
    if (auto ok = vm->map_memory(0, memory->host_base(), memory->size()); !ok) {
      return std::unexpected(ok.error());
    }
    auto vcpu = vm->create_vcpu(*kvm);
    if (!vcpu) return std::unexpected(vcpu.error());
    cpus_ = options_.cpus.value_or(1);
    for (unsigned cpu = 1; cpu < cpus_; ++cpu) {
      auto extra = vm->create_vcpu(*kvm, cpu);
      if (!extra) return std::unexpected(extra.error());
      extra_vcpus_.push_back(std::move(*extra));
    }
    bool reaper = !options_.embedded && start_teardown_reaper();
    auto cpuid = supported_cpuid_cached(*kvm, cache_directory(), supported_cpuid_key());
    if (!cpuid) return std::unexpected(cpuid.error());
    const bool trap = resolve_syscall_entry(options_.syscall_entry, *kvm, *cpuid, cache_directory(),
                                            supported_cpuid_key()) == SyscallEntry::kTrap;
    trap_ = trap;
    stats_.syscall_entry = trap ? "trap (int 0x81)" : "syscall (LSTAR)";
    describe_caches_in_leaf2(*cpuid, caches_from_cpuid(*cpuid));
    limit_extended_state(*cpuid, abi::kXsaveAreaCapacity);
    machine_ = snapshot::machine_identity(*cpuid);
    kvm_ = &*kvm;
    cpuid_ = *cpuid;
    stats_.vm_created = monotonic_ns();
    if (auto stop = stop_requested("kvm")) return std::unexpected(*stop);

    auto kernel = load_guest_kernel(*memory, embedded_guest_kernel());
    if (kernel) kernel_header_ = *kernel;
    if (!kernel) return std::unexpected(kernel.error());
    auto vdso = load_vdso(*memory, embedded_vdso());
    if (!vdso) return std::unexpected(vdso.error());
    vdso_address_ = *vdso;
    if (auto ok = build_page_tables(*memory, layout_); !ok) return std::unexpected(ok.error());
    if (auto ok = write_descriptor_tables(*memory, *kernel, cpus_); !ok) return std::unexpected(ok.error());
    const SyscallSiteCache site_cache(SyscallSiteCache::default_directory());
    auto loaded = load_app(*memory, *image, trap ? &site_cache : nullptr);
    if (!loaded) return std::unexpected(loaded.error());
    stats_.syscall_sites = loaded->syscall_sites;
    stats_.syscall_sites_from = loaded->sites_from == SiteSource::kManifest ? "from the image's manifest"
                                : loaded->sites_from == SiteSource::kCache  ? "from the site cache"
                                : loaded->sites_from == SiteSource::kScan   ? "found by decoding the image"
                                                                            : "";
    if (auto ok = write_boot_info(*memory, *vm, *image, *cpuid, trap); !ok) {
      return std::unexpected(ok.error());
    }
    if (auto ok = setup_vcpu(*vcpu, *cpuid, *kernel, layout_); !ok) return std::unexpected(ok.error());
    for (unsigned cpu = 1; cpu < cpus_; ++cpu) {
      if (auto ok = setup_vcpu(extra_vcpus_[cpu - 1], *cpuid, *kernel, layout_, cpu); !ok) {
        return std::unexpected(ok.error());
      }
    }
    image_ = &*image;
    stats_.image_loaded = monotonic_ns();
    const abi::GuestInfo guest_info{abi::kAbiVersion,   0, effective_.memory_size, stats_.started, stats_.vm_created,
                                    stats_.image_loaded};
    memory->write(abi::kGuestInfoAddr, guest_info);

    vm_ = &*vm;
    auto outcome = serve(*vcpu, *memory, std::move(*volumes), reaper, nullptr);
    if (snapshots_here() && !snapshot_taken_ && outcome) {
      return fail(ExitStatus::kUsage, "the app ended (status {}) before {}: no snapshot was written", *outcome,
                  options_.snapshot_at_syscall
                      ? fmt::format("its first {} syscall", syscall_name(*options_.snapshot_at_syscall))
                      : std::string("it called hyperlet::ready() (name a syscall to stop at with --at-syscall)"));
    }
    return outcome;
  }

 private:
  // Serves the guest from its first instruction (or the snapshot's) to its end:
  // the stop signals, the host side of the app, the seccomp filter, the run loop.
  Result<int> serve(Vcpu& vcpu_ref, GuestMemory& memory_ref, std::vector<Volume> volumes, bool reaper,
                    const nlohmann::json* restored_files) {
    auto* vcpu = &vcpu_ref;
    auto* memory = &memory_ref;
    if (auto stop = stop_requested("guest")) return std::unexpected(*stop);
    if (auto ok = flush_timer_.create(); !ok) return std::unexpected(ok.error());
    if (auto ok = app_timer_.create(); !ok) return std::unexpected(ok.error());
    if (options_.timeout) arm_stop_deadline(*options_.timeout);
    auto context = make_context(*memory, std::move(volumes), restored_files);
    if (!context) return std::unexpected(context.error());
    // A write to a closed connection or pipe is EPIPE for the app, never hyperlet's death.
    ::signal(SIGPIPE, SIG_IGN);
    raise_host_open_file_limit();
    // The reaper shares this memory: it must be filtered before the guest runs.
    if (reaper && !teardown_reaper_filtered()) reaper = false;
    // The other vCPUs' threads exist before the filter, which then covers them too (TSYNC).
    if (cpus_ > 1) start_vcpu_threads(*vcpu, *memory, **context);
    // From here on hyperlet only serves the guest: drop every other host syscall.
    if (options_.seccomp) {
      if (auto ok = restrict_host_syscalls(options_.max_processes > 0); !ok) {
        stop_vcpu_threads();
        return std::unexpected(ok.error());
      }
    }
    auto outcome = run_loop(*vcpu, *memory, **context);
    stop_vcpu_threads();
    g_running_vcpu.store(nullptr);
    g_app_signal_state.store(nullptr);
    finish_stats(*vcpu, *memory);
    if (reaper) memory->leave_mapped();  // the reaper's exit unmaps it
    return outcome;
  }

  // The host side of the app: its fd table (the snapshot's, when restoring),
  // volumes and network policy.
  Result<std::unique_ptr<SyscallContext>> make_context(GuestMemory& memory, std::vector<Volume> volumes,
                                                       const nlohmann::json* restored_files) {
    auto context = std::make_unique<SyscallContext>(memory, layout_, boot_exe_path_);
    context->files.volumes = std::move(volumes);
    context->files.console_fds = console_fds_;
    context->network = options_.network;
    context->trace = options_.trace;
    context->quiet = options_.quiet;
    context->children.set_limit(options_.embedded ? 0 : options_.max_processes);
    if (auto state = memory.span(abi::kSignalStateAddr, sizeof(abi::SignalState))) {
      context->children.watch_reap_flag(
          reinterpret_cast<const volatile std::uint64_t*>(state->data() + offsetof(abi::SignalState, reap_children)));
    }
    context->file_ring.use_table(&host_syscalls_);
    if (restored_files != nullptr) {
      if (auto ok = snapshot::restore_files(*context, *restored_files); !ok) return std::unexpected(ok.error());
      // Nothing is watched for calls the snapshot's threads had parked: each makes its call again.
      context->parked_calls.wake_all();
    } else if (options_.workdir) {
      if (auto ok = check_working_directory(context->files.volumes, *options_.workdir); !ok) {
        return std::unexpected(ok.error());
      }
      context->files.cwd = *options_.workdir;
    }
    return context;
  }

  void finish_stats(const Vcpu& vcpu, const GuestMemory& memory) {
    if (options_.stats) {
      for (const auto& [name, value] : read_kvm_stats(vcpu.fd())) {
        if (value != 0) stats_.kvm_vcpu[name] = value;
      }
    }
    stats_.exited = monotonic_ns();
    if (options_.stats) collect_guest_stats(memory);
  }

  // ------------------------------------------------------------ snapshot and restore

  // Continues the app from a snapshot (snapshot/snapshot_file.h) under this
  // command line's policy: its volumes and --publish rules, not the snapshot's.
  Result<int> run_restored() {
    auto volumes = open_volumes(options_.volumes);
    if (!volumes) return std::unexpected(volumes.error());
    auto kvm = KvmSystem::open();
    if (!kvm) return std::unexpected(kvm.error());
    auto cpuid = host_cpuid(*kvm);
    if (!cpuid) return std::unexpected(cpuid.error());
    // Every restore is a new process: the pages are hashed by the first restore of the file only.
    const snapshot::CheckedSnapshots checked(
        cache_directory().transform([](const auto& base) { return base / "checked-snapshots"; }));
    auto file = snapshot::File::open(*options_.restore_from, machine_, &checked);
    if (!file) return std::unexpected(file.error());
    if (auto ok = restore_machine(*kvm, *cpuid, *file, false); !ok) return std::unexpected(ok.error());
    kvm_ = &*kvm;
    cpuid_ = *cpuid;
    const nlohmann::json files = file->contents().host.at("files");
    return serve(*vcpu_, *memory_, std::move(*volumes), reaper_, &files);
  }

  // The supported CPUID (as the guest gets it) and what follows from it: the
  // syscall entry, this machine's identity for snapshots.
  Result<std::vector<kvm_cpuid_entry2>> host_cpuid(const KvmSystem& kvm) {
    auto cpuid = supported_cpuid_cached(kvm, cache_directory(), supported_cpuid_key());
    if (!cpuid) return std::unexpected(cpuid.error());
    trap_ = resolve_syscall_entry(options_.syscall_entry, kvm, *cpuid, cache_directory(), supported_cpuid_key()) ==
            SyscallEntry::kTrap;
    stats_.syscall_entry = trap_ ? "trap (int 0x81)" : "syscall (LSTAR)";
    describe_caches_in_leaf2(*cpuid, caches_from_cpuid(*cpuid));
    limit_extended_state(*cpuid, abi::kXsaveAreaCapacity);
    machine_ = snapshot::machine_identity(*cpuid);
    return cpuid;
  }

  // The VM, its memory (the snapshot's pages, copy-on-write) and its vCPU in the
  // snapshot's state. `reusable`: KVM logs the pages the guest writes and the
  // host records its own, for reset().
  Result<void> restore_machine(const KvmSystem& kvm, const std::vector<kvm_cpuid_entry2>& cpuid,
                               const snapshot::File& file, bool reusable) {
    const std::string& path = file.path();
    const snapshot::Contents& contents = file.contents();
    if (contents.machine != machine_) {
      return fail(ExitStatus::kBadImage,
                  "cannot restore {}: taken on another machine or by another hyperlet build ({}, this is {}); "
                  "take it again here",
                  path, contents.machine, machine_);
    }
    const nlohmann::json& host = contents.host;
    auto malformed = [&](const std::string& why) -> Result<void> {
      return fail(ExitStatus::kBadImage, "cannot restore {}: its host state is malformed ({})", path, why);
    };
    try {
      const nlohmann::json& layout = host.at("layout");
      // The budget itself is the guest kernel's, in the snapshot's memory: this is the host's copy.
      auto computed =
          compute_guest_layout(contents.memory_size, layout.at("image_start").get<std::uint64_t>(),
                               layout.at("image_end").get<std::uint64_t>(), layout.value("memory", std::uint64_t{0}));
      if (!computed) return malformed(computed.error().message);
      layout_ = *computed;
      boot_exe_path_ = host.at("exe_path").get<std::string>();
      if (host.at("syscall_entry") == "syscall" && trap_) {
        return fail(ExitStatus::kBadImage,
                    "cannot restore {}: it was taken with syscall entry (LSTAR), and this host needs the trap "
                    "(take it with --syscall-entry trap)",
                    path);
      }
      if (host.contains("pending") && !host.at("pending").is_null()) {
        snapshot_pending_ = PendingHypercall{host.at("pending").at("call").get<std::uint64_t>(),
                                             host.at("pending").at("argument").get<std::uint32_t>()};
      }
      pending_ = snapshot_pending_;
      snapshot_monotonic_ns_ = host.at("monotonic_ns").get<std::int64_t>();
      // The image only names functions in a crash report: used when it is still the same file.
      if (const nlohmann::json& image = host.value("image", nlohmann::json()); image.is_object() && !reusable) {
        auto opened = AppImage::open(image.at("path").get<std::string>());
        if (opened && opened->identity().st_ino == image.at("inode").get<ino_t>() &&
            opened->identity().st_size == image.at("size").get<off_t>() &&
            opened->identity().st_mtim.tv_sec * 1'000'000'000ll + opened->identity().st_mtim.tv_nsec ==
                image.at("mtime_ns").get<long long>()) {
          restored_image_.emplace(std::move(*opened));
          image_ = &*restored_image_;
        }
      }
      host.at("files").at("fds");
    } catch (const nlohmann::json::exception& error) {
      return malformed(error.what());
    }
    stats_.syscall_entry += ", restored from a snapshot";
    if (!file.pages_hashed()) stats_.syscall_entry += " whose pages an earlier restore checked";
    stats_.restored = true;

    auto vm = VmFd::create(kvm);
    if (!vm) return std::unexpected(vm.error());
    vm_fd_.emplace(std::move(*vm));
    vm_ = &*vm_fd_;
    auto memory = GuestMemory::create(contents.memory_size);
    if (!memory) return std::unexpected(memory.error());
    memory_.emplace(std::move(*memory));
    if (auto ok = file.map_pages(*memory_); !ok) return ok;
    if (reusable) manual_dirty_protection_ = vm_->enable_manual_dirty_protection();
    if (auto ok = vm_->map_memory(0, memory_->host_base(), memory_->size(), reusable); !ok) return ok;
    if (reusable) memory_->track_host_access();
    auto vcpu = vm_->create_vcpu(kvm);
    if (!vcpu) return std::unexpected(vcpu.error());
    vcpu_.emplace(std::move(*vcpu));
    if (!reusable) reaper_ = start_teardown_reaper();
    stats_.vm_created = monotonic_ns();
    if (auto ok = vcpu_->set_cpuid(cpuid); !ok) return ok;
    if (auto ok = start_from_snapshot(contents, true); !ok) return ok;
    stats_.image_loaded = monotonic_ns();
    return {};
  }

  // The vCPU, the clocks, fresh entropy and this command line's trace flag: what
  // a restore and a reset both do once the snapshot's pages are in place.
  Result<void> start_from_snapshot(const snapshot::Contents& contents, bool fresh_vcpu) {
    if (auto ok = fresh_vcpu ? snapshot::apply_vcpu(*vcpu_, *vm_, contents.vcpu)
                             : snapshot::reset_vcpu(*vcpu_, contents.vcpu);
        !ok) {
      return ok;
    }
    if (auto ok = write_clock_offsets(*memory_, *vm_, snapshot_monotonic_ns_); !ok) return ok;
    // Never the same random bytes twice: what the app asks getrandom for after
    // the restore differs between two restores of one snapshot.
    std::uint8_t entropy[abi::kEntropyPoolSize];
    if (getrandom(entropy, sizeof entropy, 0) != static_cast<ssize_t>(sizeof entropy)) {
      return fail(ExitStatus::kUsage, "getrandom failed: {}", std::strerror(errno));
    }
    memory_->write_bytes(abi::kBootInfoAddr + offsetof(abi::BootInfo, entropy), std::as_bytes(std::span(entropy)));
    // --trace is this command line's: the guest kernel reports the syscalls it answers when told to.
    if (auto flags = memory_->read<std::uint32_t>(abi::kBootInfoAddr + offsetof(abi::BootInfo, flags))) {
      const std::uint32_t traced = options_.trace ? (*flags | abi::kBootFlagTrace) : (*flags & ~abi::kBootFlagTrace);
      memory_->write(abi::kBootInfoAddr + offsetof(abi::BootInfo, flags), traced);
    }
    return {};
  }

 public:
  // ------------------------------------------------------------ reuse (include/hyperlet/host.h)

  // A VM restored from `file` that runs, is reset to the snapshot, and runs
  // again; its console streams are `console_fds`. No stop signals, seccomp
  // filter or teardown reaper: those belong to the embedding program.
  Result<void> restore_for_reuse(std::shared_ptr<const snapshot::File> file, std::array<int, 3> console_fds) {
    console_fds_ = console_fds;
    auto kvm = KvmSystem::open();
    if (!kvm) return std::unexpected(kvm.error());
    auto cpuid = host_cpuid(*kvm);
    if (!cpuid) return std::unexpected(cpuid.error());
    reuse_file_ = std::move(file);
    if (auto ok = restore_machine(*kvm, *cpuid, *reuse_file_, true); !ok) return ok;
    return make_reused_context();
  }

  // Runs until the app exits (its status) or fails.
  Result<int> run_reused() {
    if (!flush_timer_created_) {
      if (auto ok = flush_timer_.create(); !ok) return std::unexpected(ok.error());
      if (auto ok = app_timer_.create(); !ok) return std::unexpected(ok.error());
      flush_timer_created_ = true;
    }
    stats_.started = monotonic_ns();
    auto outcome = run_loop(*vcpu_, *memory_, *context_);
    finish_stats(*vcpu_, *memory_);
    return outcome;
  }

  // Back to the snapshot: the pages the guest (KVM's dirty log) or the host
  // (GuestMemory's record) touched get the snapshot's bytes again, the vCPU its
  // registers, the app its fd table; the clocks go on and the entropy is new.
  Result<void> reset() {
    // Pages the run mapped from files become anonymous first: the snapshot's
    // bytes copied over the pages it wrote must not land in a file.
    if (context_) context_->file_mappings.discard_all(*memory_);
    auto guest_written = vm_->dirty_pages(memory_->size());
    if (!guest_written) return std::unexpected(guest_written.error());
    const std::vector<std::uint64_t> host_touched = memory_->take_host_accessed_pages();
    const std::string entry = stats_.syscall_entry;
    stats_ = RunStats{};
    stats_.syscall_entry = entry;
    stats_.restored = true;
    stats_.reset_pages = reuse_file_->reset_pages(*memory_, *guest_written, host_touched);
    // Pages the guest wrote stay writable (their next write is no fault) until
    // there are too many to copy at each reset (vm/kept_dirty_pages.h).
    if (!manual_dirty_protection_ || kept_dirty_pages_.protect_now(*guest_written)) {
      if (manual_dirty_protection_) {
        if (auto ok = vm_->protect_pages(*guest_written, memory_->size()); !ok) return ok;
      }
      stats_.reset_protected = true;
    }
    memory_->take_host_accessed_pages();  // the reset's own copies are the snapshot's bytes
    if (auto ok = start_from_snapshot(reuse_file_->contents(), false); !ok) return ok;
    pending_ = snapshot_pending_;
    // A time slice the last run left pending belongs to a thread that no longer exists.
    slice_pending_ = false;
    vcpu_->run()->request_interrupt_window = 0;
    vcpu_->run()->immediate_exit = 0;
    return make_reused_context();
  }

  RunStats& stats() { return stats_; }

 private:
  // A fresh host side from the snapshot's fd table; the volumes stay open.
  Result<void> make_reused_context() {
    std::vector<Volume> volumes;
    if (context_) {
      volumes = std::move(context_->files.volumes);  // the vector's buffer moves: OpenFile::volume stays valid
      context_.reset();  // its files closed first: a published socket's address is free to bind again
    } else {
      auto opened = open_volumes(options_.volumes);
      if (!opened) return std::unexpected(opened.error());
      volumes = std::move(*opened);
    }
    const nlohmann::json& files = reuse_file_->contents().host.at("files");
    auto fresh = make_context(*memory_, std::move(volumes), &files);
    if (!fresh) return std::unexpected(fresh.error());
    context_ = std::move(*fresh);
    return {};
  }

  // Completes the `out` that caused this exit (complete_exit), so that rip is
  // past it, and reads the vCPU's state.
  Result<snapshot::VcpuState> capture_after_exit(Vcpu& vcpu, std::string_view purpose) {
    if (auto ok = complete_exit(vcpu, purpose); !ok) return std::unexpected(ok.error());
    return snapshot::capture_vcpu(vcpu, *vm_);
  }

  // ------------------------------------------------------------ fork (kFork)

  // The app forks: this host process forks, and its child continues the app
  // as a new VM over its copy-on-write copy of guest memory (MAP_PRIVATE
  // memory is copied on write by fork itself, and a MAP_SHARED file mapping
  // stays shared, as in Linux's fork), with this vCPU's state, the same fd
  // table (the host fds are inherited), volumes and policy. nullopt: the guest
  // goes on (in the parent, or in the child as the child). `vfork`: the parent
  // goes on only when the child has exec'd or ended, with the app pages the
  // child wrote (vm/vfork_handoff.h).
  // With more than one vCPU the other vCPUs wait outside the guest meanwhile
  // (a vfork's too, until its child has exec'd or ended: the pages it hands
  // back must not overwrite what another thread wrote meanwhile). `forker`: the
  // state of vCPU N > 0, which asked vCPU 0's thread to fork (ProcessRequest);
  // the child's one vCPU continues it as vCPU 0 (vm/vcpu_identity.h).
  std::optional<Result<int>> fork_app(Vcpu& vcpu, GuestMemory& memory, SyscallContext& context,
                                      std::uint32_t argument_address, kvm_run*& run, bool vfork,
                                      const snapshot::VcpuState* forker = nullptr) {
    auto args = memory.read<abi::ForkArgs>(argument_address);
    if (!args) return fail_at(vcpu, ExitStatus::kVmFailure, "fork: its argument address is outside guest memory");
    std::string taken_note;  // for --trace: what a vfork child handed back
    auto answer = [&](std::int64_t result, pid_t pid) -> std::optional<Result<int>> {
      args->result = result;
      args->child_pid = static_cast<std::uint64_t>(pid);
      memory.write(argument_address, *args);
      if (options_.trace) {
        write_trace_line(fmt::format("[hyperlet hypercall] {}() = {}{}", vfork ? "vfork" : "fork", result, taken_note));
      }
      return std::nullopt;
    };
    OtherVcpusParked parked(*this);
    if (!parked.all_waiting()) return take_vcpu_outcome();
    reap_if_ignored(context);
    if (context.children.full() && context.children.app_reaps()) {
      // Its children are gone for the app once they exit; their hyperlets may
      // still be tearing their VMs down (slow under nested emulation).
      context.children.await_an_end(2000);
    }
    if (context.children.full()) {
      context.report_denial(
          context.children.limit() == 0
              ? std::string("fork: the app may not start processes (--processes N allows N)")
              : fmt::format("fork: {} child processes live, --processes allows no more", context.children.size()));
      return answer(-EAGAIN, 0);
    }
    auto state = forker != nullptr ? as_vcpu_zero(vcpu, *forker) : capture_after_exit(vcpu, "a fork");
    if (!state) return std::unexpected(state.error());
    // Nothing either process would send twice or lose: the app's deferred
    // socket writes and hyperlet's own buffered output go out first. Nor read
    // twice: socket input the host took for the app goes where both can take it.
    context.socket_buffers.send_deferred_writes(context, false);
    context.socket_buffers.share_unread_input(context);
    std::fflush(stdout);
    std::fflush(stderr);
    std::optional<VforkChannel> channel;
    if (vfork) {
      auto opened = open_vfork_channel();
      if (!opened) return std::unexpected(opened.error());
      channel = std::move(*opened);
    }
    const pid_t parent = ::getpid();
    const pid_t parent_guest_pid = in_forked_child() ? parent : 1;  // the run's first process is 1
    // The poller is between requests; for a vfork it stays so until the child
    // has handed its pages back, so that nothing else writes the app's memory.
    std::unique_lock io_lock(context.file_ring.mutex());
    const pid_t child = ::fork();
    if (child < 0) return answer(-errno, 0);
    if (child > 0) {
      context.children.add(child, UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0))));
      if (channel) {
        channel->child_end.reset();
        auto taken = take_written_pages(channel->parent_end.get(), memory, app_range(), g_stop_signal);
        if (!taken) return std::unexpected(taken.error());
        if (taken->heap_end != 0) {
          // The guest kernel takes it as its heap end when the hypercall returns.
          memory.write(abi::kVforkParentMemoryAddr + offsetof(abi::VforkParentMemory, adopt_brk), taken->heap_end);
        }
        taken_note = fmt::format(" (resumed when the child {}; {} pages it wrote taken)",
                                 taken->complete ? "exec'd or ended" : "died or hyperlet was stopped", taken->pages);
      }
      io_lock.unlock();
      return answer(child, child);
    }
    context.file_ring.after_fork();
    io_lock.unlock();
    if (auto ok = become_forked_child(vcpu, memory, context, *state, parent, parent_guest_pid, run); !ok) {
      return std::unexpected(ok.error());
    }
    context.children.set_parent(parent_guest_pid, parent);
    context.process_group.pid = ::getpid();  // its group and session are its parent's until it changes them
    if (channel) {
      channel->parent_end.reset();
      vfork_parent_ = std::move(channel->child_end);
    }
    return answer(0, ::getpid());
  }

  // The app's own memory: what a vfork child may hand back (never the guest
  // kernel's area or the page tables).
  GuestRange app_range() const { return GuestRange{abi::kUserSpaceStart, layout_.page_tables_base}; }

  // A vfork child that execs or ends: its parent waits for the app pages it
  // wrote (vm/vfork_handoff.h), except in the parent's free memory, which its
  // guest kernel described when the child began (abi::VforkParentMemory).
  void hand_back_to_vfork_parent(GuestMemory& memory) {
    if (!vfork_parent_.valid()) return;
    std::vector<GuestRange> excluded;
    std::uint64_t heap_end = 0;
    if (auto parent = memory.read<abi::VforkParentMemory>(abi::kVforkParentMemoryAddr)) {
      // The heap is shared: the child's, up to its end, goes back with the rest.
      constexpr std::uint64_t kPageMask = abi::kPageSize - 1;
      const std::uint64_t heap_top = (std::max(parent->parent_brk, parent->heap_end) + kPageMask) & ~kPageMask;
      excluded.push_back({heap_top, parent->mappings_low});
      const std::uint32_t count = std::min(parent->hole_count, abi::kVforkHolesMax);
      for (std::uint32_t i = 0; i < count; ++i) excluded.push_back({parent->holes[i].start, parent->holes[i].end});
      if (parent->heap_end != parent->parent_brk) heap_end = parent->heap_end;
    }
    auto sent = hand_back_written_pages(vfork_parent_.get(), memory, app_range(), excluded, heap_end);
    if (options_.trace) {
      write_trace_line(sent ? fmt::format("[hyperlet] vfork child: {} pages it wrote handed to the parent", *sent)
                            : fmt::format("[hyperlet] vfork child: {}", sent.error().message));
    }
    vfork_parent_.reset();  // the parent goes on
  }

  // An app that ignores SIGCHLD never waits: its ended children go now.
  static void reap_if_ignored(SyscallContext& context) {
    if (!context.children.empty() && context.children.app_reaps()) context.children.reap_ended();
  }

  // The forked child's half: a VM of its own (the parent's fds are useless in
  // another process: KVM ties a VM to the mm that made it), the vCPU state,
  // the clocks and fresh entropy, and the host threads and timers a fork does
  // not copy.
  Result<void> become_forked_child(Vcpu& vcpu, GuestMemory& memory, SyscallContext& context,
                                   const snapshot::VcpuState& state, pid_t parent, pid_t parent_guest_pid,
                                   kvm_run*& run) {
    const std::uint64_t forked_at = monotonic_ns();
    mark_forked_child(parent);
    start_stats_of_child(memory, context, forked_at, parent_guest_pid);
    vfork_parent_.reset();  // a child of a vfork child: the one its grandparent waits for is its parent

    // The app's processes end with the run's first one (as a PID namespace's
    // do with its init): this one ends when its parent does.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(128 + SIGKILL);
    g_running_vcpu.store(nullptr);
    forget_other_vcpus();
    if (auto ok = install_stop_signals_after_fork(); !ok) return ok;
    auto vm = VmFd::create(*kvm_);
    if (!vm) return std::unexpected(vm.error());
    *vm_ = std::move(*vm);  // the parent's VM fd closes here
    if (auto ok = vm_->map_memory(0, memory.host_base(), memory.size()); !ok) return ok;
    auto fresh = vm_->create_vcpu(*kvm_);
    if (!fresh) return std::unexpected(fresh.error());
    vcpu = std::move(*fresh);
    if (auto ok = vcpu.set_cpuid(cpuid_); !ok) return ok;
    if (auto ok = snapshot::apply_vcpu(vcpu, *vm_, state); !ok) return ok;
    stats_.vm_created = monotonic_ns();
    if (auto ok =
            write_clock_offsets(memory, *vm_, static_cast<std::int64_t>(state.kvmclock_ns) + monotonic_offset_ns_);
        !ok) {
      return ok;
    }
    VcpuRunClock::restart_all(memory);  // the child's CPU time starts at 0, as a new process's
    // Never the parent's random bytes: getrandom in the child draws new ones.
    std::uint8_t entropy[abi::kEntropyPoolSize];
    if (getrandom(entropy, sizeof entropy, 0) != static_cast<ssize_t>(sizeof entropy)) {
      return fail(ExitStatus::kUsage, "getrandom failed: {}", std::strerror(errno));
    }
    memory.write_bytes(abi::kBootInfoAddr + offsetof(abi::BootInfo, entropy), std::as_bytes(std::span(entropy)));
    run = vcpu.run();
    if (vcpu.syncs_registers()) run->kvm_valid_regs = KVM_SYNC_X86_REGS;  // for direct syscalls
    g_running_vcpu.store(run);
    g_flush_vcpu.store(run);
    if (auto ok = flush_timer_.create_after_fork(); !ok) return ok;
    if (auto ok = app_timer_.create_after_fork(); !ok) return ok;
    context.parked_calls.after_fork();
    context.children.forget_all();
    slice_pending_ = false;
    timer_injected_ = 0;
    return {};
  }

  // A forked child's --stats are its own, from the fork on: the counts its
  // parent had made (ours, and the guest kernel's syscall and slice counts,
  // copied with guest memory) start again.
  void start_stats_of_child(GuestMemory& memory, SyscallContext& context, std::uint64_t forked_at,
                            pid_t parent_guest_pid) {
    RunStats fresh;
    fresh.started = forked_at;
    fresh.process_id = static_cast<std::uint32_t>(::getpid());
    fresh.forked_from = static_cast<std::uint32_t>(parent_guest_pid);
    fresh.syscall_entry = stats_.syscall_entry;
    fresh.syscall_sites = stats_.syscall_sites;
    fresh.syscall_sites_from = stats_.syscall_sites_from;
    stats_ = std::move(fresh);
    if (auto counts = memory.span(abi::kSyscallCountsAddr, abi::kSyscallCountSlots * 4)) {
      std::fill(counts->begin(), counts->end(), std::byte{0});
    }
    if (auto preempt = memory.read<abi::PreemptState>(abi::kPreemptStateAddr)) {
      preempt->preemptions = 0;
      memory.write(abi::kPreemptStateAddr, *preempt);
    }
    context.socket_buffers.reset_counters();
  }

  // ------------------------------------------------------------ execve (kExec)

  // The app execs: this VM boots the image in place, as a cold start does
  // (guest kernel, page tables, the image, its stack and BootInfo), over
  // memory that starts empty again; the host side keeps the fd table (minus
  // close-on-exec fds), volumes, policy and children. Until the image is known
  // to be loadable the app is untouched and gets -errno; after that, a failure
  // ends the process, as on Linux.
  std::optional<Result<int>> exec_app(Vcpu& vcpu, GuestMemory& memory, SyscallContext& context,
                                      std::uint32_t argument_address, bool at) {
    auto args = memory.read<abi::ExecArgs>(argument_address);
    if (!args) return fail_at(vcpu, ExitStatus::kVmFailure, "execve: its argument address is outside guest memory");
    // execveat (kExecAt): the directory fd and flags follow the ExecArgs.
    std::int64_t dirfd = AT_FDCWD;
    std::uint64_t at_flags = 0;
    if (at) {
      auto where = memory.read<abi::ExecAtArgs>(argument_address);
      if (!where) return fail_at(vcpu, ExitStatus::kVmFailure, "execveat: its argument address is outside guest memory");
      dirfd = where->dirfd;
      at_flags = where->flags;
    }
    std::string shown = "?";
    std::string why;  // for --trace: why the image cannot run
    auto answer = [&](std::int64_t result) -> std::optional<Result<int>> {
      args->result = result;
      memory.write(argument_address, *args);
      if (options_.trace) {
        write_trace_line(fmt::format("[hyperlet hypercall] {}({}) = {}{}", at ? "execveat" : "execve", shown,
                                     result == 0 ? std::string("0 (the VM boots it)") : decode_result(result),
                                     why.empty() ? "" : " (" + why + ")"));
      }
      return std::nullopt;
    };
    if (auto path = context.user_path(args->path)) shown = fmt::format("\"{}\"", *path);
    if (at) shown = fmt::format("{}, {}, {:#x}", dirfd == AT_FDCWD ? std::string("AT_FDCWD") : std::to_string(dirfd),
                                shown, at_flags);
    // The other vCPUs wait outside the guest: the old image goes on under them
    // until the new one is certain, and then they start again in its kernel.
    OtherVcpusParked parked(*this);
    if (!parked.all_waiting()) return take_vcpu_outcome();
    ExecRequest request;
    request.process_id = args->process_id;
    request.parent_process_id = args->parent_process_id;
    request.signals_ignored = args->signals_ignored;
    request.signals_blocked = args->signals_blocked;
    std::uint64_t total = 0;
    auto arguments = read_string_array(context, args->argv, total);
    if (!arguments) return answer(-arguments.error());
    auto environment = read_string_array(context, args->envp, total);
    if (!environment) return answer(-environment.error());
    request.arguments = std::move(*arguments);
    request.environment = std::move(*environment);
    // /proc/self/exe (busybox runs its applets so) is the image running now,
    // wherever it came from: the command line's file, or an earlier execve's.
    auto path_text = context.user_path(args->path);
    if (!path_text) return answer(-path_text.error());
    const bool self_image = *path_text == "/proc/self/exe";
    // fexecve: execveat(fd, "", ..., AT_EMPTY_PATH) runs the fd's own file.
    const bool fd_image = at && (at_flags & AT_EMPTY_PATH) != 0 && path_text->empty();
    auto executable = self_image ? open_running_image()
                      : fd_image ? open_executable_fd(context, dirfd)
                                 : open_executable_at(context, dirfd, *path_text, (at_flags & AT_SYMLINK_NOFOLLOW) == 0);
    if (!executable) return answer(-executable.error());
    // A `#!` script runs its interpreter with the script's path after the
    // interpreter's argument, as Linux does; interpreters may be scripts too,
    // four deep at most (ELOOP beyond).
    // The name the interpreter gets is the one the app gave, as Linux's; an
    // execveat relative to a directory fd or of an fd itself is "/dev/fd/N[/PATH]".
    std::string script_path = fd_image ? executable->guest_path
                              : (dirfd != AT_FDCWD && !path_text->starts_with('/'))
                                  ? fmt::format("/dev/fd/{}/{}", dirfd, *path_text)
                                  : *path_text;
    for (int depth = 0;; ++depth) {
      char start[256] = {};
      const ssize_t got = ::pread(executable->fd.get(), start, sizeof start, 0);
      const auto interpreter =
          got > 0 ? read_interpreter_line(std::string_view(start, static_cast<std::size_t>(got))) : std::nullopt;
      if (!interpreter) break;
      if (depth == 4) return answer(-ELOOP);
      std::vector<std::string> with_interpreter = {interpreter->path};
      if (interpreter->argument) with_interpreter.push_back(*interpreter->argument);
      with_interpreter.push_back(script_path);
      if (request.arguments.size() > 1) {
        with_interpreter.insert(with_interpreter.end(), request.arguments.begin() + 1, request.arguments.end());
      }
      total += with_interpreter.front().size() + script_path.size() + 2;
      request.arguments = std::move(with_interpreter);
      auto next = open_executable(context, interpreter->path);
      if (!next) {
        why = fmt::format("its interpreter {}", interpreter->path);
        return answer(-next.error());
      }
      script_path = interpreter->path;
      executable = std::move(next);
    }
    request.guest_path = executable->guest_path;
    const std::string opened_as = fmt::format("/proc/self/fd/{}", executable->fd.get());
    auto image = AppImage::open(opened_as);
    if (!image) {
      // Not a static x86-64 ELF hyperlet runs (a script, a dynamic program): the
      // app gets ENOEXEC, as natively for a file the kernel cannot run (a shell
      // then runs a script itself); --trace says why.
      why = image.error().message;
      if (const auto found = why.find(opened_as); found != std::string::npos) {
        why.replace(found, opened_as.size(), request.guest_path);
      }
      return answer(-ENOEXEC);
    }
    // The same memory budget as before, for the new image's extent.
    // The same memory budget as the old image's, for the new image's extent.
    auto layout = compute_guest_layout(memory.size(), image->start(), image->end(), layout_.memory);
    if (!layout) {
      context.report_denial(fmt::format("execve of {}: {}", request.guest_path, layout.error().message));
      return answer(-ENOMEM);
    }
    if (total > (layout->stack_top - layout->stack_bottom) / 4) return answer(-E2BIG);
    answer(0);
    hand_back_to_vfork_parent(memory);  // a vfork child's parent goes on now, as on Linux

    // From here on the old image is gone.
    context.socket_buffers.send_deferred_writes(context, false);
    context.file_ring.detach();
    context.socket_buffers.detach(context);
    context.parked_calls.clear();
    context.file_mappings.discard_all(memory);
    context.files.fds.close_on_exec();
    context.files.fds.take_changes();
    request.carried = carried_across_exec(args->carried, context.files.fds);
    auto booted =
        boot_exec_image(vcpu, memory, context, *layout, std::move(*image), std::move(executable->fd), request);
    if (!booted) {
      return std::unexpected(Error{booted.error().status, fmt::format("execve of {} failed after the old image was "
                                                                      "gone: {}",
                                                                      request.guest_path, booted.error().message)});
    }
    return std::nullopt;
  }

  // The image running now, for an execve of /proc/self/exe.
  std::expected<Executable, int> open_running_image() const {
    // (The command line's file by the path made absolute at boot: no readlink under the seccomp filter.)
    const std::string host_path =
        exec_image_fd_.valid() ? fmt::format("/proc/self/fd/{}", exec_image_fd_.get()) : boot_exe_path_;
    const int fd = ::open(host_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(ENOENT);
    return Executable{UniqueFd(fd), boot_exe_path_};
  }

  Result<void> boot_exec_image(Vcpu& vcpu, GuestMemory& memory, SyscallContext& context, const GuestLayout& layout,
                               AppImage image, UniqueFd executable_fd, const ExecRequest& request) {
    // The process's CPU time goes on across an execve, as on Linux (abi::VcpuRunClock).
    const auto run_clocks = memory.read<std::array<abi::VcpuRunClock, abi::kMaxCpus>>(abi::kRunClocksAddr);
    if (!memory.discard(0, memory.size())) return fail(ExitStatus::kVmFailure, "cannot empty guest memory");
    if (run_clocks) memory.write(abi::kRunClocksAddr, *run_clocks);
    layout_ = layout;
    exec_image_.emplace(std::move(image));
    image_ = &*exec_image_;
    exec_image_fd_ = std::move(executable_fd);
    symbols_.reset();
    auto kernel = load_guest_kernel(memory, embedded_guest_kernel());
    if (!kernel) return std::unexpected(kernel.error());
    kernel_header_ = *kernel;
    auto vdso = load_vdso(memory, embedded_vdso());
    if (!vdso) return std::unexpected(vdso.error());
    vdso_address_ = *vdso;
    if (auto ok = build_page_tables(memory, layout_); !ok) return ok;
    // A forked child ran on one vCPU; the image it execs gets the run's again.
    cpus_ = options_.cpus.value_or(1);
    if (auto ok = write_descriptor_tables(memory, *kernel, cpus_); !ok) return ok;
    const SyscallSiteCache site_cache(SyscallSiteCache::default_directory());
    auto loaded = load_app(memory, *exec_image_, trap_ ? &site_cache : nullptr);
    if (!loaded) return std::unexpected(loaded.error());
    if (auto ok = write_boot_info(memory, *vm_, *exec_image_, cpuid_, trap_, &request); !ok) return ok;
    // The vCPU keeps its CPUID: KVM refuses to change it once the vCPU ran.
    if (auto ok = setup_vcpu(vcpu, cpuid_, *kernel, layout_, 0, true); !ok) return ok;
    const abi::GuestInfo guest_info{abi::kAbiVersion, 0, layout_.memory, stats_.started, stats_.vm_created,
                                    monotonic_ns()};
    memory.write(abi::kGuestInfoAddr, guest_info);
    slice_pending_ = false;
    timer_injected_ = 0;
    vcpu.run()->request_interrupt_window = 0;
    return restart_other_vcpus(vcpu, memory, context, *kernel);
  }

  // After an execve the other vCPUs (waiting outside the guest: OtherVcpusParked)
  // start as at boot, in the new kernel, when the new image's second thread does.
  // In a forked child (one vCPU so far) they are made again, with their threads.
  Result<void> restart_other_vcpus(Vcpu& first, GuestMemory& memory, SyscallContext& context,
                                   const abi::KernelHeader& kernel) {
    if (cpus_ == 1) return {};
    if (extra_vcpus_.empty()) return make_other_vcpus(first, memory, context, kernel);
    for (unsigned cpu = 1; cpu < cpus_; ++cpu) {
      if (auto ok = setup_vcpu(extra_vcpus_[cpu - 1], cpuid_, kernel, layout_, cpu, true); !ok) return ok;
      VcpuThread& thread = *vcpu_threads_[cpu];
      thread.slice_pending = false;
      thread.interrupt.store(false);
      thread.vcpu->run()->request_interrupt_window = 0;
    }
    std::lock_guard lock(start_mutex_);
    vcpus_released_ = false;
    return {};
  }

  // A forked child's vCPUs 1.. and their threads (it starts with vCPU 0 alone),
  // made when its second thread appears or it execs; they start in the guest
  // kernel as at boot, once released (kThreadsStarted). The processes seccomp
  // filter allows what this needs (KVM_CREATE_VCPU, timer_create, thread clones).
  Result<void> make_other_vcpus(Vcpu& first, GuestMemory& memory, SyscallContext& context,
                                const abi::KernelHeader& kernel) {
    cpus_ = options_.cpus.value_or(1);
    for (unsigned cpu = 1; cpu < cpus_; ++cpu) {
      auto extra = vm_->create_vcpu(*kvm_, cpu);
      if (!extra) return std::unexpected(extra.error());
      if (auto ok = extra->set_cpuid(cpuid_); !ok) return ok;
      extra_vcpus_.push_back(std::move(*extra));
    }
    for (unsigned cpu = 1; cpu < cpus_; ++cpu) {
      if (auto ok = setup_vcpu(extra_vcpus_[cpu - 1], cpuid_, kernel, layout_, cpu, true); !ok) return ok;
    }
    start_vcpu_threads(first, memory, context);
    return {};
  }

  // The state vCPU N > 0 forked with, as vCPU 0's (the child VM has one vCPU).
  Result<snapshot::VcpuState> as_vcpu_zero(const Vcpu& vcpu_zero, const snapshot::VcpuState& forker) {
    auto identity = read_vcpu_identity(vcpu_zero);
    if (!identity) return std::unexpected(identity.error());
    snapshot::VcpuState state = forker;
    give_vcpu_identity(state, *identity);
    return state;
  }

  // `hyperlet snapshot`: the run's first process takes it; a forked child
  // runs on as in any run (it never writes the file, nor fails for want of it).
  bool snapshots_here() const { return options_.snapshot_output.has_value() && !in_forked_child(); }

  Result<int> take_snapshot(Vcpu& vcpu, GuestMemory& memory, const SyscallContext& context,
                            std::optional<PendingHypercall> pending) {
    if (!context.children.empty()) {
      // Its children are other VMs in other processes, which a file of one VM cannot hold.
      return fail(ExitStatus::kUsage,
                  "cannot take the snapshot {}: the app has {} child process{} (ended ones count until it waits "
                  "for them); a snapshot holds one process, so take it before the app forks",
                  pending ? fmt::format("at {}", syscall_name(*options_.snapshot_at_syscall)) : "at ready()",
                  context.children.size(), context.children.size() == 1 ? "" : "es");
    }
    auto state = capture_after_exit(vcpu, "the snapshot");
    if (!state) return std::unexpected(state.error());
    auto files = snapshot::capture_files(context);
    if (!files) return std::unexpected(files.error());
    snapshot::Contents contents;
    contents.memory_size = memory.size();
    contents.machine = machine_;
    contents.vcpu = *state;
    nlohmann::json image = nullptr;
    if (image_ != nullptr) {
      const struct stat& identity = image_->identity();
      image = {{"path", boot_exe_path_},  // made absolute at boot: no readlink under the seccomp filter
               {"inode", identity.st_ino},
               {"size", identity.st_size},
               {"mtime_ns", identity.st_mtim.tv_sec * 1'000'000'000ll + identity.st_mtim.tv_nsec}};
    }
    contents.host = {
        {"layout",
         {{"image_start", layout_.image_start}, {"image_end", layout_.image_end}, {"memory", layout_.memory}}},
        {"image", image},
        {"exe_path", boot_exe_path_},
        {"syscall_entry", trap_ ? "trap" : "syscall"},
        {"monotonic_ns", static_cast<std::int64_t>(state->kvmclock_ns) + monotonic_offset_ns_},
        {"files", *files},
        {"pending",
         pending ? nlohmann::json{{"call", pending->call}, {"argument", pending->argument}} : nlohmann::json(nullptr)}};
    contents.runs = snapshot::resident_runs(memory);
    if (auto ok = snapshot::write(*options_.snapshot_output, contents, memory); !ok) return std::unexpected(ok.error());
    std::uint64_t pages = 0;
    for (const auto& page_run : contents.runs) pages += page_run.page_count;
    fmt::print(stderr, "{}: snapshot written to {}: {} guest pages ({:.1f} MiB), taken {}\n", message_prefix(),
               *options_.snapshot_output, pages, static_cast<double>(pages) * 4096 / (1 << 20),
               pending ? fmt::format("at {}", syscall_name(*options_.snapshot_at_syscall)) : "at ready()");
    stats_.guest_pages_touched = pages;
    snapshot_taken_ = true;
    return 0;
  }

  // kvmclock + offset = the host's clocks. After a restore, the guest's monotonic
  // clock goes on from where the snapshot left it at the least (host
  // CLOCK_MONOTONIC restarts at a reboot), its realtime clock is the host's.
  Result<void> write_clock_offsets(GuestMemory& memory, const VmFd& vm, std::int64_t monotonic_at_least) {
    auto clock = vm.clock();
    if (!clock) return std::unexpected(clock.error());
    timespec realtime{}, monotonic{};
    clock_gettime(CLOCK_REALTIME, &realtime);
    clock_gettime(CLOCK_MONOTONIC, &monotonic);
    auto ns = [](const timespec& t) { return t.tv_sec * 1'000'000'000ll + t.tv_nsec; };
    const std::int64_t now = static_cast<std::int64_t>(*clock);
    const abi::VdsoData vdso_data{ns(realtime) - now, std::max<std::int64_t>(ns(monotonic), monotonic_at_least) - now};
    monotonic_offset_ns_ = vdso_data.monotonic_offset_ns;
    if (!memory.write(abi::kVdsoDataAddr, vdso_data)) {
      return fail(ExitStatus::kUsage, "vDSO data does not fit in guest memory");
    }
    return {};
  }

  // `exec`: an execve's image, arguments and process (else the command line's).
  Result<void> write_boot_info(GuestMemory& memory, const VmFd& vm, const AppImage& image,
                               const std::vector<kvm_cpuid_entry2>& cpuid, bool trap,
                               const ExecRequest* exec = nullptr) {
    InitialStackInput stack_input;
    stack_input.stack_top = layout_.stack_top;
    if (exec != nullptr) {
      stack_input.arguments = exec->arguments;
      stack_input.environment = exec->environment;
      stack_input.exec_filename = exec->guest_path;
    } else {
      stack_input.arguments.push_back(options_.app_path);
      stack_input.arguments.insert(stack_input.arguments.end(), effective_.arguments.begin(),
                                   effective_.arguments.end());
      stack_input.environment = effective_.environment;
      stack_input.exec_filename = options_.app_path;
    }
    stack_input.guest_info = abi::kGuestInfoAddr;
    stack_input.program_headers = image.program_headers();
    stack_input.program_header_count = image.elf().program_header_count;
    stack_input.program_header_size = image.elf().program_header_size;
    stack_input.entry = image.entry();
    stack_input.vdso = vdso_address_;
    stack_input.hwcap = cpuid_edx(cpuid, 1);
    if (getrandom(stack_input.random.data(), stack_input.random.size(), 0) !=
        static_cast<ssize_t>(stack_input.random.size())) {
      return fail(ExitStatus::kUsage, "getrandom failed: {}", std::strerror(errno));
    }
    const InitialStack stack = build_initial_stack(stack_input);
    if (!leaves_room_to_run(stack, layout_.stack_bottom)) {
      if (exec != nullptr) return fail(ExitStatus::kUsage, "execve of {}: its arguments do not fit", exec->guest_path);
      // Arguments from the image's manifest are the image's fault, not the command line's.
      if (!options_.arguments_given && image.notes().manifest && image.notes().manifest->arguments) {
        return fail(ExitStatus::kBadImage,
                    "cannot run {}: its manifest's arguments and environment do not fit on the app's stack "
                    "({} KiB at --memory {}M)",
                    options_.app_path, (layout_.stack_top - layout_.stack_bottom) >> 10, layout_.memory >> 20);
      }
      return fail(ExitStatus::kUsage, "arguments and environment do not fit on the app's stack");
    }
    memory.write_bytes(stack.stack_pointer, stack.bytes);

    abi::BootInfo info{};
    info.abi_version = abi::kAbiVersion;
    info.flags = (options_.trace ? abi::kBootFlagTrace : 0) | (trap ? abi::kBootFlagSyscallTrap : 0);
    // The loader wrote direct-syscall sites (trap entry only); one vCPU answers them.
    if (trap && cpus_ == 1) info.flags |= abi::kBootFlagDirectSyscalls;
    info.memory_size = layout_.memory_size;
    info.memory_budget = layout_.memory_budget;
    info.image_start = layout_.image_start;
    info.image_end = layout_.image_end;
    info.heap_start = layout_.heap_start;
    info.mmap_top = layout_.mmap_top;
    info.stack_bottom = layout_.stack_bottom;
    info.stack_top = layout_.stack_top;
    info.page_tables_base = layout_.page_tables_base;
    info.pte_base = layout_.page_tables;
    info.pde_base = layout_.page_directories;
    info.entry = image.entry();
    info.initial_rsp = stack.stack_pointer;
    const ExtendedState enabled = extended_state(cpuid);
    info.xsave_features = enabled.xcr0;
    info.xsave_size = enabled.area_size;
    if (enabled.xcr0 == 0 && trap) {
      // kvm_pvm: the app sees the host's CPUID and XCR0 and uses AVX(-512) that
      // the guest's emulated ring 0 cannot save; the host saves it instead.
      if (const std::optional<ExtendedState> host = host_extended_state(abi::kXsaveAreaCapacity - 4)) {
        info.xsave_features = host->xcr0;
        info.xsave_size = host->area_size;
        info.flags |= abi::kBootFlagHostVectorState;
      }
    }
    info.cpu_count = cpus_;
    if (options_.hostname) {
      // The command line checked its length; the copy keeps the NUL regardless.
      const std::size_t hostname_length = std::min<std::size_t>(options_.hostname->size(), abi::kHostnameMax - 1);
      std::memcpy(info.hostname, options_.hostname->data(), hostname_length);
    }

    // kvmclock counts from the VM's creation; these offsets turn it into the host's clocks.
    if (auto ok = write_clock_offsets(memory, vm, 0); !ok) return ok;

    boot_exe_path_ = exec != nullptr ? exec->guest_path : absolute_path(options_.app_path);
    if (exec != nullptr) {
      info.process_id = exec->process_id;
      info.parent_process_id = exec->parent_process_id;
      info.signals_ignored = exec->signals_ignored;
      info.signals_blocked = exec->signals_blocked;
      info.exec_carried = exec->carried;
    }
    const std::size_t length = std::min<std::size_t>(boot_exe_path_.size(), abi::kExePathMax - 1);
    std::memcpy(info.exe_path, boot_exe_path_.data(), length);
    if (getrandom(info.entropy, sizeof(info.entropy), 0) != static_cast<ssize_t>(sizeof(info.entropy))) {
      return fail(ExitStatus::kUsage, "getrandom failed: {}", std::strerror(errno));
    }
    if (!memory.write(abi::kBootInfoAddr, info)) {
      return fail(ExitStatus::kUsage, "boot information does not fit in guest memory");
    }
    return {};
  }

  Result<int> run_loop(Vcpu& vcpu, GuestMemory& memory, SyscallContext& context) {
    Result<int> result = run_until_stopped(vcpu, memory, context);
    hand_back_to_vfork_parent(memory);  // a vfork child that ended
    // However the run ended (a deadline, --exit-on-ready), what the app wrote
    // reaches its connections if they take it now.
    context.socket_buffers.send_deferred_writes(context, false);
    stats_.deferred_writes = context.socket_buffers.counters().deferred_writes;
    stats_.stashed_inputs = context.socket_buffers.counters().stashed_inputs;
    const FileRing::Counters file_ring = context.file_ring.counters();
    stats_.file_ring_requests = file_ring.requests;
    stats_.file_ring_by_poller = file_ring.by_poller;
    stats_.file_ring_kicks = file_ring.kicks;
    stats_.parked_calls = context.parked_calls.counters().parked;
    stats_.parked_woken = context.parked_calls.counters().woken;
    return result;
  }

  Result<int> run_until_stopped(Vcpu& vcpu, GuestMemory& memory, SyscallContext& context) {
    HypercallHandler hypercalls(memory, layout_, context, host_syscalls_, options_.trace, trap_,
                                [this]() -> const SymbolTable& { return symbols(); });
    kvm_run* run = vcpu.run();
    g_running_vcpu.store(run);
    g_flush_vcpu.store(run);
    if (auto state = memory.span(abi::kSignalStateAddr, sizeof(abi::SignalState))) {
      g_app_signal_state.store(reinterpret_cast<const volatile std::uint64_t*>(state->data()));
    }
    if (pending_) {
      // The restored app is past the `out` of a hypercall the snapshot did not serve.
      std::unique_lock io_lock(context.file_ring.mutex());
      auto finished = hypercalls.handle(pending_->call, pending_->argument);
      pending_.reset();
      if (finished) return *finished;
    }
    hypercalls.set_vector_state_access(vector_state_access(vcpu));
    VcpuThread* self = cpus_ > 1 ? vcpu_threads_[0].get() : nullptr;
    if (self != nullptr) hypercalls.set_vcpu_hooks(vcpu_hooks(*self));
    VcpuRunClock run_clock(memory, 0);
    // Direct syscalls (abi.h) read and write registers at their exits.
    if (vcpu.syncs_registers()) run->kvm_valid_regs = KVM_SYNC_X86_REGS;
    // A forked child has one vCPU, whichever vCPU forked (forget_other_vcpus).
    // and an image it execs has the run's vCPUs again (restart_other_vcpus).
    auto after_process_call = [&] {
      if (self != nullptr && cpus_ == 1) {
        self = nullptr;
        hypercalls.set_vcpu_hooks({});
      } else if (self == nullptr && cpus_ > 1) {
        self = vcpu_threads_[0].get();
        hypercalls.set_vcpu_hooks(vcpu_hooks(*self));
      }
    };
    for (;;) {
      if (g_stop_signal.load() != 0) return stopped_error(vcpu);
      if (self != nullptr && stopping_.load()) return take_vcpu_outcome();
      if (self != nullptr && process_request_waiting_.load()) {
        if (auto failed = serve_process_request(vcpu, memory, context, run)) return *failed;
        after_process_call();
        if (context.interrupted && g_stop_signal.load() != 0) return stopped_error(vcpu);
        continue;
      }
      if (g_children_changed.exchange(false)) reap_if_ignored(context);
      if (group_signals_waiting()) receive_group_signals(context);
      if (g_app_signals.load() != 0) hand_signals_to_app(*run, memory, context);
      // While the app has more threads than vCPUs, the same timer ends its time
      // slice: a kick after kFlushAfter (10 ms) of guest time without an exit.
      const auto preempt = memory.read<abi::PreemptState>(abi::kPreemptStateAddr);
      const bool slicing = slicing_possible_ && preempt && preempt->live_threads > cpus_;
      if (context.socket_buffers.attached() || slicing) flush_timer_.arm();
      // The app's earliest timer (alarm, setitimer, timer_create) interrupts the
      // guest when it is due, as a time slice ends, even in a loop without syscalls.
      const std::uint64_t app_timer = app_timer_deadline(memory, preempt ? preempt->timer_deadline_ns : 0);
      if (app_timer != 0 && slicing_possible_) {
        // Armed only ahead: one already due would fire before KVM_RUN entered
        // the guest, every time. That one goes in now, once per deadline (KVM
        // refuses a second interrupt before the guest ran).
        if (monotonic_ns() < app_timer) {
          app_timer_.arm_at(app_timer);
        } else if (timer_injected_ != app_timer && !slice_pending_) {
          timer_injected_ = app_timer;
          end_time_slice(vcpu, *run);
        }
      }
      std::uint64_t entered = 0;
      if (self != nullptr) {
        entered = enter_run(*self, vcpu, *run, slice_pending_, stats_.slices_injected);
      }
      run_clock.entering();
      const int ran = ::ioctl(vcpu.fd(), KVM_RUN, 0);
      const int run_errno = errno;
      run_clock.left();
      if (self != nullptr) leave_run(*self, entered);
      flush_timer_.disarm();
      app_timer_.disarm();
      if (ran != 0) {
        if (run_errno == EINTR || run_errno == EAGAIN) {
          run->immediate_exit = 0;
          ++stats_.exits["interrupted"];
          if (self != nullptr && stopping_.load()) return take_vcpu_outcome();
          // A slice ended, the watcher found a parked call ready and kicked us,
          // or another vCPU asked for a TLB flush.
          const bool asked = self != nullptr && self->interrupt.exchange(false);
          const bool timer_due = app_timer != 0 && timer_injected_ != app_timer && monotonic_ns() >= app_timer;
          if (timer_due) timer_injected_ = app_timer;
          if ((slicing || context.parked_calls.ready_pending() || asked || timer_due) && g_stop_signal.load() == 0) {
            end_time_slice(vcpu, *run);
          }
          if (context.socket_buffers.attached()) {
            // The app ran for a while without a syscall: what it deferred goes out now.
            std::lock_guard io_lock(context.file_ring.mutex());
            context.socket_buffers.send_deferred_writes(context);
            if (context.interrupted && g_stop_signal.load() != 0) return stopped_error(vcpu);
          }
          continue;
        }
        if (run_errno == EFAULT && !context.file_mappings.empty()) {
          // KVM found no page behind a guest address: a shared file mapping's
          // file shrank under it (nothing else in guest memory can vanish).
          return std::unexpected(mapped_file_bus_error(context.file_mappings, memory_fault_address(*run)));
        }
        errno = run_errno;
        return fail(ExitStatus::kVmFailure, "KVM_RUN failed: {}", std::strerror(errno));
      }
      ++stats_.exits[exit_reason_name(run->exit_reason)];
      switch (run->exit_reason) {
        case KVM_EXIT_IRQ_WINDOW_OPEN:
          // The guest left ring 0 after a slice ended there: deliver it now.
          if (slice_pending_) end_time_slice(vcpu, *run);
          break;
        case KVM_EXIT_IO: {
          const auto& io = run->io;
          if (io.port == abi::kDirectSyscallPort) {
            if (auto finished = direct_syscall(vcpu, memory, context, hypercalls, *run)) return *finished;
            if (context.interrupted && g_stop_signal.load() != 0) return stopped_error(vcpu);
            if (auto at_ready = first_ready(vcpu, memory, context)) return *at_ready;
            break;
          }
          const std::uint64_t call = io.port - abi::kHypercallPortBase;
          if (io.direction != KVM_EXIT_IO_OUT || io.size != 4 || io.count != 1 || io.port < abi::kHypercallPortBase ||
              call >= static_cast<std::uint64_t>(abi::Hypercall::kCount)) {
            return fail_at(vcpu, ExitStatus::kVmFailure,
                           fmt::format("unknown hypercall port {:#x} ({} bytes, {})", io.port, io.size,
                                       io.direction == KVM_EXIT_IO_OUT ? "out" : "in"));
          }
          std::uint32_t argument_address = 0;
          std::memcpy(&argument_address, reinterpret_cast<const std::byte*>(run) + io.data_offset, 4);
          if (snapshots_here() && options_.snapshot_at_syscall &&
              (call == static_cast<std::uint64_t>(abi::Hypercall::kHostSyscall) ||
               call == static_cast<std::uint64_t>(abi::Hypercall::kParkableSyscall))) {
            auto args = memory.read<abi::SyscallArgs>(argument_address);
            if (args && args->number == *options_.snapshot_at_syscall) {
              return take_snapshot(vcpu, memory, context, PendingHypercall{call, argument_address});
            }
          }
          ++stats_.hypercalls[std::string(hypercall_name(call))];
          if ((call == static_cast<std::uint64_t>(abi::Hypercall::kFork) ||
               call == static_cast<std::uint64_t>(abi::Hypercall::kVfork)) &&
              kvm_ != nullptr) {
            const bool vfork = call == static_cast<std::uint64_t>(abi::Hypercall::kVfork);
            if (auto failed = fork_app(vcpu, memory, context, argument_address, run, vfork)) return *failed;
            after_process_call();
            if (context.interrupted && g_stop_signal.load() != 0) return stopped_error(vcpu);
            break;
          }
          if ((call == static_cast<std::uint64_t>(abi::Hypercall::kExec) ||
               call == static_cast<std::uint64_t>(abi::Hypercall::kExecAt)) &&
              kvm_ != nullptr) {
            const bool at = call == static_cast<std::uint64_t>(abi::Hypercall::kExecAt);
            if (auto failed = exec_app(vcpu, memory, context, argument_address, at)) return *failed;
            after_process_call();
            if (context.interrupted && g_stop_signal.load() != 0) return stopped_error(vcpu);
            break;
          }
          if (call == static_cast<std::uint64_t>(abi::Hypercall::kThreadsStarted)) {
            if (self == nullptr && options_.cpus.value_or(1) > 1 && extra_vcpus_.empty() && kernel_header_ &&
                kvm_ != nullptr) {
              // A forked child's second thread: its other vCPUs now.
              if (auto ok = make_other_vcpus(vcpu, memory, context, *kernel_header_); !ok) {
                return std::unexpected(ok.error());
              }
              after_process_call();
            }
            if (self != nullptr) release_vcpu_threads();
          }
          // An idle vCPU sleeps without the file ring's lock.
          const bool locked = self == nullptr || call != static_cast<std::uint64_t>(abi::Hypercall::kSleep);
          auto finished = serve_hypercall(hypercalls, memory, context, call, argument_address, locked);
          if (context.interrupted && g_stop_signal.load() != 0) return stopped_error(vcpu);
          if (auto at_ready = first_ready(vcpu, memory, context)) return *at_ready;
          if (!finished) break;
          return run_outcome(vcpu, call, std::move(*finished));
        }
        case KVM_EXIT_HLT:
          return fail_at(vcpu, ExitStatus::kVmFailure, "the guest halted unexpectedly");
        case KVM_EXIT_SHUTDOWN:
          return fail_at(vcpu, ExitStatus::kVmFailure,
                         "triple fault: the guest CPU reset (an exception while handling an exception)");
        case KVM_EXIT_INTERNAL_ERROR:
          return fail_at(vcpu, ExitStatus::kVmFailure,
                         fmt::format("KVM internal error (suberror {}): KVM could not run or emulate a "
                                     "guest instruction",
                                     run->internal.suberror));
        case KVM_EXIT_FAIL_ENTRY:
          return fail_at(
              vcpu, ExitStatus::kVmFailure,
              fmt::format("VM entry failed (hardware reason {:#x})", run->fail_entry.hardware_entry_failure_reason));
        case KVM_EXIT_MMIO:
          return fail_at(
              vcpu, ExitStatus::kVmFailure,
              fmt::format("the guest accessed guest-physical address {:#x} outside its memory", run->mmio.phys_addr));
        default:
          return fail_at(vcpu, ExitStatus::kVmFailure,
                         fmt::format("unexpected VM exit ({})", exit_reason_name(run->exit_reason)));
      }
    }
  }

  // ------------------------------------------------------------ direct syscalls

  // The app's `out %eax, $kDirectSyscallPort` (abi.h: a rewritten `mov $N, %eax;
  // syscall`) while its guest kernel had the port open: the call is in the
  // registers, made as a kHostSyscall would be (the same handler: policy,
  // --trace, the fd table), and its result goes into rax. The registers come
  // and go through kvm_run's sync area where KVM has one (no ioctl); KVM
  // completes the `out` (rip past it) as the guest enters again.
  // One hypercall as every vCPU's loop serves it: under the file ring's lock
  // when `locked` (its poller shares the fd table), then the bus error of a
  // shared file mapping the call touched, if any. nullopt: the run goes on.
  static std::optional<Result<int>> serve_hypercall(HypercallHandler& hypercalls, GuestMemory& memory,
                                                    SyscallContext& context, std::uint64_t call,
                                                    std::uint32_t argument_address, bool locked) {
    std::unique_lock io_lock(context.file_ring.mutex(), std::defer_lock);
    if (locked) io_lock.lock();
    auto finished = hypercalls.handle(call, argument_address);
    if (io_lock.owns_lock()) io_lock.unlock();
    if (!context.file_mappings.empty()) {
      if (auto touched = bus_errors::take(memory.host_base())) {
        return std::unexpected(mapped_file_bus_error(context.file_mappings, *touched));
      }
    }
    return finished;
  }

  // The app's first hyperlet::ready() (through the guest kernel or straight from
  // ring 3): the snapshot of `hyperlet snapshot`, or the end of an --exit-on-ready run.
  std::optional<Result<int>> first_ready(Vcpu& vcpu, GuestMemory& memory, const SyscallContext& context) {
    if (!context.ready_ns || stats_.ready != 0) return std::nullopt;
    stats_.ready = *context.ready_ns;
    if (snapshots_here() && !options_.snapshot_at_syscall) return take_snapshot(vcpu, memory, context, std::nullopt);
    if (options_.exit_on_ready) return 0;
    return std::nullopt;
  }

  // How a hypercall that ended the run ends it: an app fault's report already
  // says where, an exit, a signal or a deadlock needs no place; a broken
  // hypercall gets the rip.
  Result<int> run_outcome(const Vcpu& vcpu, std::uint64_t call, Result<int> finished) {
    if (finished || call == static_cast<std::uint64_t>(abi::Hypercall::kFault) ||
        call == static_cast<std::uint64_t>(abi::Hypercall::kExit) ||
        call == static_cast<std::uint64_t>(abi::Hypercall::kDeadlock)) {
      return finished;
    }
    return fail_at(vcpu, finished.error().status, finished.error().message);
  }

  std::optional<Result<int>> direct_syscall(Vcpu& vcpu, GuestMemory& memory, SyscallContext& context,
                                            HypercallHandler& hypercalls, kvm_run& run) {
    const auto& io = run.io;
    if (io.direction != KVM_EXIT_IO_OUT || io.size != 4 || io.count != 1) {
      // The app's own port I/O, which Linux answers with SIGSEGV (#GP).
      return fail_at(
          vcpu, ExitStatus::kAppSigsegv,
          fmt::format("app crashed: port I/O ({} of {} byte{} at port {:#x}) that is no direct syscall "
                      "(only `out %eax, $0x10` from a rewritten syscall site may use that port)",
                      io.direction == KVM_EXIT_IO_OUT ? "out" : "in", io.size, io.size == 1 ? "" : "s", io.port));
    }
    const bool synced = (run.kvm_valid_regs & KVM_SYNC_X86_REGS) != 0;
    kvm_regs regs{};
    if (synced) {
      regs = run.s.regs.regs;
    } else {
      if (auto ok = complete_exit(vcpu, "a direct syscall"); !ok) return std::unexpected(ok.error());
      auto read = vcpu.regs();
      if (!read) return std::unexpected(read.error());
      regs = *read;
    }
    const std::uint64_t number = regs.rax;
    const auto attention = memory.read<std::uint64_t>(abi::kSignalStateAddr + offsetof(abi::SignalState, attention));
    const bool snapshot_here = snapshots_here() && options_.snapshot_at_syscall &&
                               number == static_cast<std::uint64_t>(*options_.snapshot_at_syscall);
    if (!abi::is_direct_syscall(number) || !attention || *attention != 0 || snapshot_here) {
      return send_back_to_guest_kernel(vcpu, memory, run, synced);
    }
    abi::SyscallArgs args{number, {regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9}, -ENOSYS};
    if (!memory.write(abi::kHypercallArgsAddr, args)) {
      return fail_at(vcpu, ExitStatus::kVmFailure, "direct syscall: no hypercall page in guest memory");
    }
    if (number < abi::kSyscallCountSlots) {  // hyperlet's own calls have no slot
      const std::uint64_t count_address = abi::kSyscallCountsAddr + number * 4;
      if (auto count = memory.read<std::uint32_t>(count_address)) memory.write(count_address, *count + 1);
    }
    ++stats_.hypercalls["direct-syscall"];
    if (number == abi::kExitGroupSyscall) {
      // What the guest kernel's exit_group would do: the status to the kExit
      // hypercall, which flushes the deferred socket writes and ends the run.
      constexpr auto kExit = static_cast<std::uint64_t>(abi::Hypercall::kExit);
      if (!memory.write(abi::kHypercallArgsAddr, abi::ExitArgs{static_cast<std::int64_t>(regs.rdi & 0xff), 0})) {
        return fail_at(vcpu, ExitStatus::kVmFailure, "direct syscall: no hypercall page in guest memory");
      }
      if (auto finished = serve_hypercall(hypercalls, memory, context, kExit, abi::kHypercallArgsAddr, true)) {
        return run_outcome(vcpu, kExit, std::move(*finished));
      }
      return fail_at(vcpu, ExitStatus::kVmFailure, "direct exit_group: the run did not end");
    }
    constexpr auto kHostSyscall = static_cast<std::uint64_t>(abi::Hypercall::kHostSyscall);
    if (auto finished = serve_hypercall(hypercalls, memory, context, kHostSyscall, abi::kHypercallArgsAddr, true)) {
      return run_outcome(vcpu, kHostSyscall, std::move(*finished));
    }
    const auto answered = memory.read<abi::SyscallArgs>(abi::kHypercallArgsAddr);
    if (!answered) return fail_at(vcpu, ExitStatus::kVmFailure, "direct syscall: no hypercall page in guest memory");
    regs.rax = static_cast<std::uint64_t>(answered->result);
    if (synced) {
      run.s.regs.regs.rax = regs.rax;
      run.kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    } else if (auto ok = vcpu.set_regs(regs); !ok) {
      return std::unexpected(ok.error());
    }
    if (answered->result == -EINTR || answered->result == -EPIPE) {
      // What the guest kernel does after such an answer (a restart, SIGPIPE):
      // at the kPreemptVector that goes in now, before the app's next
      // instruction, its kernel finishes the call from the hypercall page.
      memory.write(abi::kDirectSyscallFinishAddr, abi::kDirectSyscallFinish);
      end_time_slice(vcpu, run);
      if (!slicing_possible_) memory.write(abi::kDirectSyscallFinishAddr, std::uint64_t{0});  // the plain answer, then
    }
    return std::nullopt;
  }

  // A direct syscall the guest kernel must make itself (a number outside
  // abi::kDirectSyscalls, a signal to see to first, the --at-syscall of a
  // snapshot): the `out` is completed, rip steps back onto it, and the port
  // closes, so that it raises #GP and the guest kernel takes it as the syscall
  // (opening the port again: kDirectSyscallSentBack).
  std::optional<Result<int>> send_back_to_guest_kernel(Vcpu& vcpu, GuestMemory& memory, kvm_run& run, bool synced) {
    if (synced) {
      if (auto ok = complete_exit(vcpu, "a direct syscall"); !ok) return std::unexpected(ok.error());
    }
    auto regs = vcpu.regs();
    if (!regs) return std::unexpected(regs.error());
    regs->rip -= sizeof(abi::kDirectSyscallOpcode);
    if (auto ok = vcpu.set_regs(*regs); !ok) return std::unexpected(ok.error());
    run.kvm_dirty_regs &= ~static_cast<std::uint64_t>(KVM_SYNC_X86_REGS);
    if (!memory.write(abi::kTssIoBitmapPortByte, abi::kTssIoBitmapClosed) ||
        !memory.write(abi::kDirectSyscallFinishAddr, abi::kDirectSyscallSentBack)) {
      return fail_at(vcpu, ExitStatus::kVmFailure, "direct syscall: the kernel area is outside guest memory");
    }
    ++stats_.hypercalls["direct-syscall-sent-back"];
    return std::nullopt;
  }

  // KVM_RUN with immediate_exit: KVM finishes the exit's instruction and runs
  // no guest instruction; the registers are then final.
  Result<void> complete_exit(Vcpu& vcpu, std::string_view purpose) {
    kvm_run* run = vcpu.run();
    run->immediate_exit = 1;
    const int ran = ::ioctl(vcpu.fd(), KVM_RUN, 0);
    const int run_errno = errno;
    run->immediate_exit = 0;
    if (ran == 0 || run_errno != EINTR) {
      return fail(ExitStatus::kVmFailure, "cannot complete the last exit before {}: {}", purpose,
                  ran == 0 ? "the guest ran on" : std::strerror(run_errno));
    }
    return {};
  }

  // Group signals from another of the app's processes (vm/app_signals.h):
  // passed on to the other neighbours, and to the app when it is in the group.
  static void receive_group_signals(const SyscallContext& context) {
    for (const ReceivedGroupSignal& message : take_group_signals()) {
      const GroupSignal group = decode_group_signal(message.value);
      if (group.signal <= 0 || group.signal > 64) continue;
      if (spread_group_signal(context, group, message.from)) {
        signal_for_app(group.signal, AppSignalInfo{SI_USER, group.sender, 0, true});
      }
    }
  }

  // Signals sent to hyperlet that the app takes (vm/stop_signals.h): into the
  // guest kernel's SignalState, then kPreemptVector (as a time slice ends), so
  // that the guest kernel delivers them on its way back to ring 3 even from a
  // loop that makes no syscall.
  void hand_signals_to_app(kvm_run& run, GuestMemory& memory, const SyscallContext& context) {
    const std::uint64_t signals = g_app_signals.exchange(0);
    stop_app_signal_kicks();  // in guest memory now: the guest kernel sees them before any blocking call
    auto state = memory.span(abi::kSignalStateAddr, sizeof(abi::SignalState));
    if (signals == 0 || !state) return;
    // Atomically: with --cpus above 1 the guest kernel changes these words meanwhile.
    auto* words = reinterpret_cast<std::uint64_t*>(state->data());
    std::atomic_ref from_host(words[offsetof(abi::SignalState, from_host) / 8]);
    // Each signal's siginfo first, unless an instance the guest has not taken yet keeps its own.
    const std::uint64_t waiting = from_host.load();
    for (std::uint64_t left = signals & ~waiting; left != 0; left &= left - 1) {
      const int signal = std::countr_zero(left) + 1;
      const AppSignalInfo info = app_signal_info(signal);
      const pid_t sender = info.sender_is_guest_pid ? info.sender : context.children.guest_pid_of(info.sender);
      memory.write(abi::kHostSignalInfoAddr + static_cast<std::uint64_t>(signal - 1) * sizeof(abi::HostSignalInfo),
                   abi::HostSignalInfo{info.code, sender, info.status, 0});
    }
    from_host.fetch_or(signals);
    std::atomic_ref(words[offsetof(abi::SignalState, attention) / 8]).store(1);
    // As a slice that ends in ring 0: KVM exits as soon as the guest can take
    // the interrupt (at once in ring 3), and it goes in then. (Never a second
    // KVM_INTERRUPT before the guest ran: KVM refuses it.)
    if (slicing_possible_) {
      run.request_interrupt_window = 1;
      slice_pending_ = true;
    }
  }

  // The guest kernel's timer deadline (kvmclock ns) as host CLOCK_MONOTONIC ns; 0: none.
  static std::uint64_t app_timer_deadline(const GuestMemory& memory, std::uint64_t kvmclock_deadline) {
    if (kvmclock_deadline == 0) return 0;
    auto offsets = memory.read<abi::VdsoData>(abi::kVdsoDataAddr);
    if (!offsets) return 0;
    const std::int64_t monotonic = static_cast<std::int64_t>(kvmclock_deadline) + offsets->monotonic_offset_ns;
    return monotonic > 0 ? static_cast<std::uint64_t>(monotonic) : 1;
  }

  static std::uint32_t app_threads(const GuestMemory& memory) {
    auto state = memory.read<abi::PreemptState>(abi::kPreemptStateAddr);
    return state ? state->live_threads : 0;
  }

  // Ends the running thread's time slice: kPreemptVector goes in now if the
  // guest can take an interrupt (IF=1: it was in ring 3), else KVM exits with
  // KVM_EXIT_IRQ_WINDOW_OPEN when it next can (the iretq back to ring 3), and
  // it goes in then. The guest kernel switches to its next runnable thread.
  void end_time_slice(const Vcpu& vcpu, kvm_run& run) {
    end_time_slice(vcpu, run, slice_pending_, stats_.slices_injected);
  }
  void end_time_slice(const Vcpu& vcpu, kvm_run& run, bool& slice_pending, std::uint64_t& injected) {
    if (run.ready_for_interrupt_injection && run.if_flag) {
      kvm_interrupt interrupt{abi::kPreemptVector};
      run.request_interrupt_window = 0;
      slice_pending = false;
      if (::ioctl(vcpu.fd(), KVM_INTERRUPT, &interrupt) == 0) {
        ++injected;
      } else {
        slicing_possible_ = false;  // threads stay cooperative, as before
      }
      return;
    }
    run.request_interrupt_window = 1;
    slice_pending = true;
  }

  // ------------------------------------------------------------ more vCPUs (--cpus)

  // vCPU N's host side: vCPU 0's is the main thread's run loop, the others run
  // run_secondary on threads of their own.
  struct VcpuThread {
    Vcpu* vcpu = nullptr;
    unsigned index = 0;
    UniqueFd wake;                       // eventfd: kKickCpus, or the run ends (ends its kSleep)
    std::atomic<bool> interrupt{false};  // kShootdown: inject kPreemptVector before it runs on
    std::atomic<bool> in_run{false};     // inside KVM_RUN: a signal takes it out
    pthread_t thread{};
    std::thread host_thread;
    bool slice_pending = false;
    std::uint64_t slices_injected = 0;
    RunStats::Vcpu counters;
    std::map<std::string, std::uint64_t> exits;
    std::map<std::string, std::uint64_t> hypercalls;
  };

  static HypercallHandler::VectorStateAccess vector_state_access(Vcpu& vcpu) {
    return {[&vcpu] { return vcpu.xsave(); }, [&vcpu](const XsaveArea& area) { return vcpu.set_xsave(area); }};
  }

  HypercallHandler::VcpuHooks vcpu_hooks(VcpuThread& self) {
    HypercallHandler::VcpuHooks hooks;
    hooks.wake_fd = self.wake.get();
    hooks.kick = [this](std::uint64_t cpus) {
      for (unsigned cpu = 0; cpu < cpus_; ++cpu) {
        if ((cpus & (std::uint64_t{1} << cpu)) != 0) wake_vcpu(*vcpu_threads_[cpu]);
      }
    };
    hooks.interrupt = [this](std::uint64_t cpus) {
      for (unsigned cpu = 0; cpu < cpus_; ++cpu) {
        if ((cpus & (std::uint64_t{1} << cpu)) == 0) continue;
        VcpuThread& other = *vcpu_threads_[cpu];
        // Seen before its next KVM_RUN (enter_run), or a signal ends the one it is in.
        other.interrupt.store(true);
        if (other.in_run.load()) pthread_kill(other.thread, SIGRTMIN);
      }
    };
    return hooks;
  }

  static void wake_vcpu(VcpuThread& other) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(other.wake.get(), &one, sizeof one);
  }

  // Before KVM_RUN: a TLB flush another vCPU asked for goes in first. Returns the clock for leave_run.
  std::uint64_t enter_run(VcpuThread& self, const Vcpu& vcpu, kvm_run& run, bool& slice_pending,
                          std::uint64_t& injected) {
    self.in_run.store(true);
    if (self.interrupt.exchange(false)) end_time_slice(vcpu, run, slice_pending, injected);
    return options_.stats ? monotonic_ns() : 0;
  }

  void leave_run(VcpuThread& self, std::uint64_t entered) {
    self.in_run.store(false);
    ++self.counters.exits;
    if (entered != 0) self.counters.run_ns += monotonic_ns() - entered;
  }

  void start_vcpu_threads(Vcpu& first, GuestMemory& memory, SyscallContext& context) {
    context.parked_calls.prepare_for_vcpus();
    for (unsigned cpu = 0; cpu < cpus_; ++cpu) {
      auto thread = std::make_unique<VcpuThread>();
      thread->vcpu = cpu == 0 ? &first : &extra_vcpus_[cpu - 1];
      thread->index = cpu;
      thread->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      vcpu_threads_.push_back(std::move(thread));
    }
    vcpu_threads_[0]->thread = pthread_self();
    for (unsigned cpu = 1; cpu < cpus_; ++cpu) {
      VcpuThread& thread = *vcpu_threads_[cpu];
      thread.host_thread = std::thread([this, &thread, &memory, &context] { serve_vcpu(thread, memory, context); });
    }
    // Each made its flush timer (timer_create is not in the seccomp filter).
    std::unique_lock lock(start_mutex_);
    start_cv_.wait(lock, [&] { return threads_ready_ == cpus_ - 1; });
  }

  // The app's second thread appeared: the other vCPUs start running the guest kernel.
  void release_vcpu_threads() {
    std::lock_guard lock(start_mutex_);
    if (vcpus_released_) return;
    vcpus_released_ = true;
    start_cv_.notify_all();
  }

  void stop_vcpu_threads() {
    if (vcpu_threads_.empty()) return;
    stopping_.store(true);
    {
      std::lock_guard lock(start_mutex_);
      start_cv_.notify_all();
    }
    for (unsigned cpu = 1; cpu < cpus_; ++cpu) {
      VcpuThread& thread = *vcpu_threads_[cpu];
      wake_vcpu(thread);
      thread.vcpu->run()->immediate_exit = 1;
      if (thread.host_thread.joinable()) {
        pthread_kill(thread.thread, SIGRTMIN);
        thread.host_thread.join();
      }
    }
    stats_.vcpus.clear();
    for (auto& thread : vcpu_threads_) {
      stats_.vcpus.push_back(thread->counters);
      if (thread->index == 0) continue;
      for (const auto& [name, count] : thread->exits) stats_.exits[name] += count;
      for (const auto& [name, count] : thread->hypercalls) stats_.hypercalls[name] += count;
      stats_.slices_injected += thread->slices_injected;
    }
    vcpu_threads_.clear();
  }

  // A vCPU's run ended the app (exit, fault, error): every vCPU stops, vCPU 0's run loop returns it.
  void finish_from_vcpu(Result<int> outcome) {
    {
      std::lock_guard lock(outcome_mutex_);
      if (!vcpu_outcome_) vcpu_outcome_ = std::move(outcome);
    }
    stopping_.store(true);
    VcpuThread& first = *vcpu_threads_[0];
    wake_vcpu(first);
    first.vcpu->run()->immediate_exit = 1;
    pthread_kill(first.thread, SIGRTMIN);
  }

  // A vCPU N > 0 stays out of the guest: before the app's second thread, while
  // a fork or execve is made, after an execve until the new image's second
  // thread. false: the run ends.
  bool wait_until_running(std::unique_lock<std::mutex>& lock) {
    ++vcpus_waiting_;
    start_cv_.notify_all();
    start_cv_.wait(lock,
                   [&] { return stopping_.load() || (vcpus_released_ && !parking_.load() && !process_request_); });
    --vcpus_waiting_;
    return !stopping_.load();
  }

  static bool is_process_call(std::uint64_t call) {
    using enum abi::Hypercall;
    const auto which = static_cast<abi::Hypercall>(call);
    return which == kFork || which == kVfork || which == kExec || which == kExecAt;
  }

  // vCPU N > 0's app forks or execs: vCPU 0's thread makes it (a forked child
  // continues on the thread that forked, and the main thread is the one with
  // the run's timers and signals). Returns once it is made; false: the run ends.
  bool ask_vcpu_zero(std::uint64_t call, std::uint32_t argument_address, snapshot::VcpuState state) {
    {
      std::lock_guard lock(start_mutex_);
      process_request_ = ProcessRequest{call, argument_address, std::move(state)};
    }
    process_request_waiting_.store(true);
    interrupt_vcpu(*vcpu_threads_[0]);
    std::unique_lock lock(start_mutex_);
    return wait_until_running(lock);
  }

  // Out of KVM_RUN at once, or before the next (immediate_exit), and out of a kSleep.
  static void interrupt_vcpu(VcpuThread& thread) {
    thread.vcpu->run()->immediate_exit = 1;
    wake_vcpu(thread);
    if (thread.in_run.load()) pthread_kill(thread.thread, SIGRTMIN);
  }

  // vCPU 0's thread: the fork or execve another vCPU asked for.
  std::optional<Result<int>> serve_process_request(Vcpu& vcpu, GuestMemory& memory, SyscallContext& context,
                                                   kvm_run*& run) {
    process_request_waiting_.store(false);
    std::optional<ProcessRequest> request;
    {
      std::lock_guard lock(start_mutex_);
      request = process_request_;
    }
    if (!request) return std::nullopt;
    const auto call = static_cast<abi::Hypercall>(request->call);
    if (call == abi::Hypercall::kFork || call == abi::Hypercall::kVfork) {
      return fork_app(vcpu, memory, context, request->argument_address, run, call == abi::Hypercall::kVfork,
                      &request->state);
    }
    return exec_app(vcpu, memory, context, request->argument_address, call == abi::Hypercall::kExecAt);
  }

  // While vCPU 0's thread forks or execs: every other vCPU waits outside the
  // guest (wait_until_running), so that guest memory holds still and no other
  // host thread is inside KVM_RUN or a hypercall. A no-op with one vCPU, and
  // in a forked child (it has one).
  class OtherVcpusParked {
   public:
    explicit OtherVcpusParked(MicroVm& vm) : vm_(vm), parked_(vm.cpus_ > 1) {
      if (!parked_) return;
      vm_.parking_.store(true);
      for (unsigned cpu = 1; cpu < vm_.cpus_; ++cpu) interrupt_vcpu(*vm_.vcpu_threads_[cpu]);
      std::unique_lock lock(vm_.start_mutex_);
      vm_.start_cv_.wait(lock, [&] { return vm_.stopping_.load() || vm_.vcpus_waiting_ == vm_.cpus_ - 1; });
    }
    ~OtherVcpusParked() {
      if (!parked_ || vm_.cpus_ == 1) return;
      std::lock_guard lock(vm_.start_mutex_);
      vm_.parking_.store(false);
      vm_.process_request_.reset();
      vm_.start_cv_.notify_all();
    }
    OtherVcpusParked(const OtherVcpusParked&) = delete;
    OtherVcpusParked& operator=(const OtherVcpusParked&) = delete;
    // false: another vCPU ended the run meanwhile (take_vcpu_outcome).
    bool all_waiting() const { return !parked_ || !vm_.stopping_.load(); }

   private:
    MicroVm& vm_;
    bool parked_;
  };

  // A forked child has one vCPU: the parent's other vCPU threads do not exist
  // here (fork copies only the calling thread), nor may their locks be waited on.
  void forget_other_vcpus() {
    if (vcpu_threads_.empty()) return;
    for (auto& thread : vcpu_threads_) {
      thread->wake.reset();
      static_cast<void>(thread.release());  // its std::thread is the parent's: never joined or destroyed here
    }
    vcpu_threads_.clear();
    extra_vcpus_.clear();  // the parent VM's vCPU fds
    cpus_ = 1;
    parking_.store(false);
    process_request_.reset();
    process_request_waiting_.store(false);
    vcpus_waiting_ = 0;
    threads_ready_ = 0;
    vcpus_released_ = false;
    stopping_.store(false);
    new (&start_mutex_) std::mutex();
    new (&start_cv_) std::condition_variable();
    new (&outcome_mutex_) std::mutex();
  }

  Result<int> take_vcpu_outcome() {
    std::lock_guard lock(outcome_mutex_);
    if (vcpu_outcome_) return *vcpu_outcome_;
    return fail(ExitStatus::kVmFailure, "a vCPU stopped without a reason");
  }

  // The thread of vCPU N > 0: only its own flush signal reaches it (stop
  // signals go to the main thread), it waits for the app's second thread, then
  // runs its vCPU until the run ends.
  void serve_vcpu(VcpuThread& self, GuestMemory& memory, SyscallContext& context) {
    sigset_t blocked;
    sigfillset(&blocked);
    for (const int signal : {SIGRTMIN, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS, SIGABRT}) sigdelset(&blocked, signal);
    pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
    self.thread = pthread_self();
    FlushTimer timer;
    const bool timer_made = timer.create().has_value();
    {
      std::unique_lock lock(start_mutex_);
      ++threads_ready_;
      if (!wait_until_running(lock)) return;
    }
    if (!timer_made) return finish_from_vcpu(fail(ExitStatus::kVmFailure, "vCPU {}: no flush timer", self.index));
    if (auto outcome = run_secondary(self, timer, memory, context)) finish_from_vcpu(std::move(*outcome));
  }

  // vCPU N > 0's run loop: nullopt when told to stop, else how the app ended.
  std::optional<Result<int>> run_secondary(VcpuThread& self, FlushTimer& timer, GuestMemory& memory,
                                           SyscallContext& context) {
    HypercallHandler hypercalls(memory, layout_, context, host_syscalls_, options_.trace, trap_,
                                [this]() -> const SymbolTable& { return symbols(); });
    hypercalls.set_vcpu_hooks(vcpu_hooks(self));
    Vcpu& vcpu = *self.vcpu;
    hypercalls.set_vector_state_access(vector_state_access(vcpu));
    kvm_run* run = vcpu.run();
    g_flush_vcpu.store(run);
    VcpuRunClock run_clock(memory, self.index);
    for (;;) {
      if (stopping_.load()) return std::nullopt;
      if (parking_.load()) {
        std::unique_lock lock(start_mutex_);
        if (!wait_until_running(lock)) return std::nullopt;
      }
      const bool slicing = slicing_possible_ && app_threads(memory) > cpus_;
      if (slicing) timer.arm();
      const std::uint64_t entered = enter_run(self, vcpu, *run, self.slice_pending, self.slices_injected);
      run_clock.entering();
      const int ran = ::ioctl(vcpu.fd(), KVM_RUN, 0);
      const int run_errno = errno;
      run_clock.left();
      leave_run(self, entered);
      timer.disarm();
      if (ran != 0) {
        if (run_errno == EFAULT && !context.file_mappings.empty()) {
          // As on vCPU 0: a shared file mapping's file shrank under the guest.
          return std::unexpected(mapped_file_bus_error(context.file_mappings, memory_fault_address(*run)));
        }
        if (run_errno != EINTR && run_errno != EAGAIN) {
          return fail(ExitStatus::kVmFailure, "KVM_RUN of vCPU {} failed: {}", self.index, std::strerror(run_errno));
        }
        run->immediate_exit = 0;
        ++self.exits["interrupted"];
        if (stopping_.load()) return std::nullopt;
        const bool asked = self.interrupt.exchange(false);
        if (slicing || context.parked_calls.ready_pending() || asked) {
          end_time_slice(vcpu, *run, self.slice_pending, self.slices_injected);
        }
        continue;
      }
      ++self.exits[exit_reason_name(run->exit_reason)];
      if (run->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN) {
        if (self.slice_pending) end_time_slice(vcpu, *run, self.slice_pending, self.slices_injected);
        continue;
      }
      if (run->exit_reason != KVM_EXIT_IO) {
        std::lock_guard lock(outcome_mutex_);
        return fail_at(vcpu, ExitStatus::kVmFailure,
                       fmt::format("vCPU {}: unexpected VM exit ({})", self.index, exit_reason_name(run->exit_reason)));
      }
      const auto& io = run->io;
      const std::uint64_t call = io.port - abi::kHypercallPortBase;
      if (io.direction != KVM_EXIT_IO_OUT || io.size != 4 || io.count != 1 || io.port < abi::kHypercallPortBase ||
          call >= static_cast<std::uint64_t>(abi::Hypercall::kCount)) {
        std::lock_guard lock(outcome_mutex_);
        return fail_at(vcpu, ExitStatus::kVmFailure,
                       fmt::format("vCPU {}: unknown hypercall port {:#x}", self.index, io.port));
      }
      std::uint32_t argument_address = 0;
      std::memcpy(&argument_address, reinterpret_cast<const std::byte*>(run) + io.data_offset, 4);
      ++self.hypercalls[std::string(hypercall_name(call))];
      if (is_process_call(call) && kvm_ != nullptr) {
        auto state = capture_after_exit(vcpu, "a fork or execve");
        if (!state) {
          std::lock_guard lock(outcome_mutex_);
          return std::unexpected(state.error());
        }
        if (!ask_vcpu_zero(call, argument_address, std::move(*state))) return std::nullopt;
        continue;
      }
      const bool locked = call != static_cast<std::uint64_t>(abi::Hypercall::kSleep);
      auto finished = serve_hypercall(hypercalls, memory, context, call, argument_address, locked);
      if (!finished) continue;
      std::lock_guard lock(outcome_mutex_);
      return run_outcome(vcpu, call, std::move(*finished));
    }
  }

  Result<int> fail_at(const Vcpu& vcpu, ExitStatus status, const std::string& what) {
    std::string where;
    if (auto regs = vcpu.regs()) {
      where = fmt::format(" at rip {:#x}", regs->rip);
      if (regs->rip >= abi::kKernelImageBase && regs->rip < abi::kKernelImageLimit) {
        where += " (in the guest kernel, serving the app)";
      } else if (auto function = symbols().describe(regs->rip)) {
        where += fmt::format(" ({})", *function);
      }
    }
    return std::unexpected(Error{status, what + where});
  }

  Result<int> stopped_error(const Vcpu& vcpu) {
    const int signal = g_stop_signal.load();
    if (signal != SIGALRM || !options_.timeout) return std::unexpected(stopped_by_signal_error(signal));
    const double seconds = static_cast<double>(options_.timeout->count()) / 1e9;
    return fail_at(vcpu, ExitStatus::kTimeout,
                   fmt::format("the app ran past --timeout {:g}s and was stopped", seconds));
  }

  // A stop signal that came during start-up ends it at the next step (vm/stop_signals.h).
  static std::optional<Error> stop_requested(std::string_view step) {
    signal_self_at_startup_step_for_tests(step);
    const int signal = g_stop_signal.load();
    if (signal == 0) return std::nullopt;
    return stopped_by_signal_error(signal);
  }

  // Per-user caches (supported CPUID, syscall entry) beside the syscall-site cache.
  static std::optional<std::filesystem::path> cache_directory() {
    return SyscallSiteCache::default_directory().transform([](const auto& sites) { return sites.parent_path(); });
  }

  void collect_guest_stats(const GuestMemory& memory) {
    // A restored app's boot happened in another run, on another clock.
    if (auto info = memory.read<abi::BootInfo>(abi::kBootInfoAddr);
        info && !options_.restore_from && stats_.forked_from == 0) {
      if (info->kernel_entry_ns != 0) {
        stats_.first_instruction =
            static_cast<std::uint64_t>(static_cast<std::int64_t>(info->kernel_entry_ns) + monotonic_offset_ns_);
        stats_.app_entry =
            static_cast<std::uint64_t>(static_cast<std::int64_t>(info->app_entry_ns) + monotonic_offset_ns_);
      }
    }
    for (std::uint64_t number = 0; number < abi::kSyscallCountSlots; ++number) {
      auto count = memory.read<std::uint32_t>(abi::kSyscallCountsAddr + number * 4);
      if (count && *count != 0) stats_.syscalls[syscall_name(number)] = *count;
    }
    stats_.guest_pages_touched = memory.resident_pages();
    if (auto status = memory.read<abi::GuestStatus>(abi::kGuestStatusAddr)) {
      stats_.memory_charged = status->memory_charged;
      stats_.memory_charged_peak = status->memory_charged_peak;
      // Counted only when there is a budget apart from the address space.
      if (layout_.memory < layout_.memory_size) stats_.memory_budget = layout_.memory_budget;
      stats_.address_space = layout_.memory_size;
    }
    if (auto state = memory.read<abi::PreemptState>(abi::kPreemptStateAddr)) {
      stats_.slices_received = state->preemptions;
    }
  }

  // Parsed only when a report needs a name: a big symbol table costs milliseconds.
  const SymbolTable& symbols() {
    if (!symbols_ && image_ != nullptr && image_->read_symbols()) {
      symbols_ = SymbolTable::from_elf(image_->bytes(), image_->load_bias());
    }
    if (!symbols_) symbols_ = SymbolTable{};
    return *symbols_;
  }

  const RunOptions& options_;
  EffectiveRun effective_{};
  RunStats& stats_;
  GuestLayout layout_{};
  const AppImage* image_ = nullptr;
  std::optional<AppImage> restored_image_;  // for crash reports' names, if the file is still the one snapshotted
  std::optional<AppImage> exec_image_;      // the image an execve booted
  UniqueFd exec_image_fd_;                  // its file (an execve of /proc/self/exe opens it again)
  UniqueFd vfork_parent_;                   // a vfork child: where its waiting parent reads what it wrote
  std::optional<SymbolTable> symbols_;
  HostSyscallTable host_syscalls_ = make_host_syscall_table();
  std::int64_t monotonic_offset_ns_ = 0;
  std::uint64_t vdso_address_ = 0;
  std::string boot_exe_path_;
  FlushTimer flush_timer_;                    // kicks the guest out of a long run: deferred socket writes, time slices
  FlushTimer app_timer_;                      // the same at the app's earliest timer (PreemptState.timer_deadline_ns)
  std::uint64_t timer_injected_ = 0;          // the app timer deadline kPreemptVector already went in for
  std::atomic<bool> slicing_possible_{true};  // false once KVM refused KVM_INTERRUPT
  bool slice_pending_ = false;                // a slice ended while the guest had IF=0 (in ring 0)
  bool trap_ = false;                         // app syscalls enter through the int 0x81 trap
  VmFd* vm_ = nullptr;
  // What a forked child builds its VM with (kFork).
  const KvmSystem* kvm_ = nullptr;
  std::vector<kvm_cpuid_entry2> cpuid_;
  std::string machine_;  // snapshot::machine_identity of this host and build
  std::optional<PendingHypercall> pending_;
  std::optional<PendingHypercall> snapshot_pending_;  // the snapshot's, again at each reset
  std::int64_t snapshot_monotonic_ns_ = 0;
  bool snapshot_taken_ = false;
  bool reaper_ = false;
  std::array<int, 3> console_fds_ = {0, 1, 2};
  // A restored VM's parts (a booted one keeps them on run()'s stack).
  std::optional<VmFd> vm_fd_;
  std::optional<GuestMemory> memory_;
  std::optional<Vcpu> vcpu_;
  std::unique_ptr<SyscallContext> context_;  // after memory_: it refers to it
  std::shared_ptr<const snapshot::File> reuse_file_;
  // KVM leaves pages the guest wrote writable until protect_pages() (a reused VM).
  bool manual_dirty_protection_ = false;
  KeptDirtyPages kept_dirty_pages_;
  bool flush_timer_created_ = false;
  // --cpus: vCPUs 1.. (vCPU 0 is run()'s), their host threads, how they stop.
  unsigned cpus_ = 1;
  std::vector<Vcpu> extra_vcpus_;
  std::vector<std::unique_ptr<VcpuThread>> vcpu_threads_;
  std::atomic<bool> stopping_{false};
  std::mutex start_mutex_;
  std::condition_variable start_cv_;
  unsigned threads_ready_ = 0;
  bool vcpus_released_ = false;
  std::mutex outcome_mutex_;
  std::optional<Result<int>> vcpu_outcome_;
  // A fork or execve vCPU N > 0 asked vCPU 0's thread for (ask_vcpu_zero), under start_mutex_.
  struct ProcessRequest {
    std::uint64_t call = 0;
    std::uint32_t argument_address = 0;
    snapshot::VcpuState state{};
  };
  std::optional<ProcessRequest> process_request_;
  std::atomic<bool> process_request_waiting_{false};
  std::atomic<bool> parking_{false};  // OtherVcpusParked: every vCPU N > 0 to wait_until_running
  unsigned vcpus_waiting_ = 0;        // vCPU threads N > 0 in wait_until_running (start_mutex_)
  // Where vCPUs N > 0 start (make_other_vcpus).
  std::optional<abi::KernelHeader> kernel_header_;
};

// The embedding API's engine: the options and counters a MicroVm refers to, with it.
class ReusableMicroVm final : public ReusableVm {
 public:
  explicit ReusableMicroVm(RunOptions options) : options_(std::move(options)), vm_(options_, stats_) {}
  Result<void> restore(std::shared_ptr<const snapshot::File> file, std::array<int, 3> console_fds) {
    return vm_.restore_for_reuse(std::move(file), console_fds);
  }
  Result<int> run() override { return vm_.run_reused(); }
  Result<void> reset() override { return vm_.reset(); }
  const RunStats& stats() const override { return stats_; }

 private:
  RunOptions options_;
  RunStats stats_;
  MicroVm vm_;
};

}  // namespace

Result<std::unique_ptr<ReusableVm>> ReusableVm::restore(std::shared_ptr<const snapshot::File> file, RunOptions options,
                                                        std::array<int, 3> console_fds) {
  options.embedded = true;
  options.seccomp = false;
  auto vm = std::make_unique<ReusableMicroVm>(std::move(options));
  if (auto ok = vm->restore(std::move(file), console_fds); !ok) return std::unexpected(ok.error());
  return vm;
}

Result<int> run_microvm(const RunOptions& options, RunStats& stats) {
  MicroVm vm(options, stats);
  return vm.run();
}

}  // namespace hyperlet
