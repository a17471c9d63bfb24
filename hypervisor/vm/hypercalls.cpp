#include "vm/hypercalls.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

#include "core/checked_range.h"
#include "core/trace_output.h"
#include "devices/syscall_decoding.h"
#include "vm/fault_report.h"
#include "vm/forked_child.h"

namespace hyperlet {

std::string_view hypercall_name(std::uint64_t call) {
  switch (static_cast<abi::Hypercall>(call)) {
    case abi::Hypercall::kExit:
      return "exit";
    case abi::Hypercall::kHostSyscall:
      return "host-syscall";
    case abi::Hypercall::kFault:
      return "fault";
    case abi::Hypercall::kDiscard:
      return "discard";
    case abi::Hypercall::kTrace:
      return "trace";
    case abi::Hypercall::kSleep:
      return "sleep";
    case abi::Hypercall::kDeadlock:
      return "deadlock";
    case abi::Hypercall::kThreadsStarted:
      return "threads-started";
    case abi::Hypercall::kKernelHostSyscall:
      return "kernel-host-syscall";
    case abi::Hypercall::kParkableSyscall:
      return "parkable-syscall";
    case abi::Hypercall::kFileMapping:
      return "file-mapping";
    case abi::Hypercall::kKickCpus:
      return "kick-cpus";
    case abi::Hypercall::kShootdown:
      return "shootdown";
    case abi::Hypercall::kVectorState:
      return "vector-state";
    case abi::Hypercall::kSyscallSite:
      return "syscall-site";
    case abi::Hypercall::kFork:
      return "fork";
    case abi::Hypercall::kExec:
      return "exec";
    case abi::Hypercall::kVfork:
      return "vfork";
    case abi::Hypercall::kExecAt:
      return "exec-at";
    case abi::Hypercall::kCount:
      break;
  }
  return "unknown";
}

std::int64_t HypercallHandler::rewrite_syscall_site(std::uint64_t address) {
  // App memory only: never the guest kernel's image or page tables.
  if (address < abi::kUserSpaceStart || address >= layout_.page_tables_base) return -EINVAL;
  auto bytes = memory_.span(address, 2);
  if (!bytes) return -EINVAL;
  const auto* code = reinterpret_cast<const std::uint8_t*>(bytes->data());
  if (code[0] == abi::kSyscallTrapOpcode[0] && code[1] == abi::kSyscallTrapOpcode[1]) return 0;
  if (code[0] != 0x0f || code[1] != 0x05) return -EINVAL;
  std::memcpy(bytes->data(), abi::kSyscallTrapOpcode, 2);
  return 0;
}

std::int64_t HypercallHandler::vector_state(const abi::VectorStateArgs& args) {
  if (args.size > sizeof(XsaveArea)) return -EINVAL;
  const std::optional<std::span<std::byte>> save = args.save_address == 0
                                                       ? std::optional<std::span<std::byte>>(std::span<std::byte>{})
                                                       : memory_.span(args.save_address, args.size);
  const std::optional<std::span<std::byte>> load = args.load_address == 0
                                                       ? std::optional<std::span<std::byte>>(std::span<std::byte>{})
                                                       : memory_.span(args.load_address, args.size);
  if (!save || !load) return -EFAULT;
  if (!vector_state_.get || !vector_state_.set) return -ENOSYS;
  if (args.save_address != 0) {
    auto area = vector_state_.get();
    if (!area) return -EIO;
    std::memcpy(save->data(), area->region.data(), args.size);
  }
  if (args.load_address != 0) {
    XsaveArea area{};
    std::memcpy(area.region.data(), load->data(), args.size);
    if (!vector_state_.set(area)) return -EINVAL;
  }
  return 0;
}

GuestBytes HypercallHandler::app_memory() const {
  return [this](std::uint64_t address, std::uint64_t length) -> std::optional<std::span<const std::byte>> {
    auto bytes = context_.user_span(address, length);
    if (!bytes) return std::nullopt;
    return std::span<const std::byte>(*bytes);
  };
}

void HypercallHandler::trace_call(std::string_view source, const abi::SyscallArgs& call, bool forwarded) const {
  if (!trace_) return;
  const GuestBytes memory = app_memory();
  // The app's output to hyperlet's own stdout/stderr: a trace line after an
  // unfinished one starts on a line of its own.
  if (forwarded) {
    if (auto written = last_byte_written(call, memory)) {
      const OpenFile* file = context_.files.fds.get(written->fd);
      if (file != nullptr && !file->owned.valid()) note_app_console_output(file->host_fd, written->last);
    }
  }
  write_trace_line(fmt::format("[hyperlet {}] {}{}", source, format_syscall(call, memory),
                               call.result == abi::kParked ? " (parked)" : ""));
}

std::int64_t HypercallHandler::file_mapping(const abi::FileMappingArgs& args) {
  constexpr std::uint64_t kPage = abi::kPageSize;
  if (args.address % kPage != 0 || args.length % kPage != 0 || args.length == 0) return -EINVAL;
  // Only app pages may become a file's; never the kernel's or the page tables.
  if (!range_between(args.address, args.length, abi::kUserSpaceStart, layout_.page_tables_base)) return -EINVAL;
  FileMappings& mappings = context_.file_mappings;
  switch (args.op) {
    case abi::FileMappingOp::kMap: {
      if (args.offset % kPage != 0) return -EINVAL;
      const OpenFile* file = context_.files.fds.get(static_cast<std::int64_t>(args.fd));
      if (file == nullptr) return -EBADF;
      if (file->is_ancestor() || file->directory || file->socket) return -ENODEV;
      struct stat info {};
      if (::fstat(file->host_fd, &info) != 0) return -errno;
      // MAP_SHARED of /dev/zero is shared anonymous memory, as on Linux.
      const bool dev_zero = S_ISCHR(info.st_mode) && info.st_rdev == makedev(1, 5);
      if (!S_ISREG(info.st_mode) && !dev_zero) return -ENODEV;
      // Linux's access rules: readable, and for a writable shared mapping
      // open for reading and writing and not for appending.
      const int status = ::fcntl(file->host_fd, F_GETFL);
      if (status < 0) return -errno;
      if ((status & O_ACCMODE) == O_WRONLY) return -EACCES;
      if (args.writable != 0 && ((status & O_ACCMODE) != O_RDWR || (status & O_APPEND) != 0)) return -EACCES;
      if (dev_zero) return mappings.map_shared_anonymous(memory_, args.address, args.length);
      return mappings.map(memory_, args.address, args.length, file->host_fd, args.offset, file->guest_path);
    }
    case abi::FileMappingOp::kShareAnonymous:
      return mappings.map_shared_anonymous(memory_, args.address, args.length);
    case abi::FileMappingOp::kMove:
      return mappings.move(memory_, args.address, args.length, args.source);
    case abi::FileMappingOp::kSync:
      return mappings.sync(memory_, args.address, args.length);
  }
  return -EINVAL;
}

std::string HypercallHandler::memory_note() const {
  auto status = memory_.read<abi::GuestStatus>(abi::kGuestStatusAddr);
  return status ? out_of_memory_note(*status, layout_.memory) : "";
}

std::optional<Result<int>> HypercallHandler::handle(std::uint64_t call, std::uint64_t argument_address) {
  auto bad_arguments = [&]() -> Result<int> {
    return fail(ExitStatus::kVmFailure, "hypercall {} passed an argument address {:#x} outside guest memory",
                hypercall_name(call), argument_address);
  };
  // The app's deferred socket writes were made before it exited or faulted: they
  // reach their connections, as a process's writes outlive it.
  if (call == static_cast<std::uint64_t>(abi::Hypercall::kExit) ||
      call == static_cast<std::uint64_t>(abi::Hypercall::kFault) ||
      call == static_cast<std::uint64_t>(abi::Hypercall::kDeadlock)) {
    context_.socket_buffers.send_deferred_writes(context_);
  }
  switch (static_cast<abi::Hypercall>(call)) {
    case abi::Hypercall::kExit: {
      auto args = memory_.read<abi::ExitArgs>(argument_address);
      if (!args) return bad_arguments();
      if (args->signal > 0 && args->signal < 65) {
        // Like a shell's "Aborted": one line, and the status a shell would report.
        const int signal = static_cast<int>(args->signal);
        // A forked child dies as natively, silently: its parent's wait4 sees the signal.
        note_app_killed_by(signal, signal == SIGPIPE || in_forked_child());
        if (trace_)
          write_trace_line(
              fmt::format("+++ killed by {} +++", decode_signal(static_cast<std::uint64_t>(args->signal))));
        // A broken pipe ends `hyperlet run APP | head` as natively: status 141, no line.
        if (signal == SIGPIPE) return std::unexpected(Error{static_cast<ExitStatus>(128 + signal), ""});
        const char* abbreviation = sigabbrev_np(signal);
        return std::unexpected(Error{static_cast<ExitStatus>(128 + signal),
                                     fmt::format("app killed by SIG{} ({}){}", abbreviation ? abbreviation : "?",
                                                 strsignal(signal), memory_note())});
      }
      if (trace_) {
        // As strace ends: the call that does not return, then how the app ended.
        write_trace_line(fmt::format("[hyperlet guest] exit_group({}) = ?", static_cast<std::int32_t>(args->status)));
        write_trace_line(fmt::format("+++ exited with {} +++", args->status & 0xff));
      }
      return static_cast<int>(args->status & 0xff);
    }
    case abi::Hypercall::kHostSyscall:
    case abi::Hypercall::kKernelHostSyscall: {
      auto args = memory_.read<abi::SyscallArgs>(argument_address);
      if (!args) return bad_arguments();
      SyscallArguments values;
      std::copy(std::begin(args->args), std::end(args->args), values.begin());
      args->result = host_syscalls_.call(args->number, context_, values);
      memory_.write(argument_address, *args);
      trace_call("host", *args, true);
      return std::nullopt;
    }
    case abi::Hypercall::kParkableSyscall: {
      auto args = memory_.read<abi::ParkableSyscallArgs>(argument_address);
      if (!args) return bad_arguments();
      SyscallArguments values;
      std::copy(std::begin(args->call.args), std::end(args->call.args), values.begin());
      // Whatever this thread waited for before no longer matters.
      context_.parked_calls.cancel(args->waiter);
      context_.may_park = args->waiter < abi::kMaxParkedWaiters;
      context_.park.reset();
      args->call.result = host_syscalls_.call(args->call.number, context_, values);
      context_.may_park = false;
      args->host_watches = 0;
      args->timeout_ns = 0;
      args->timeout_result = 0;
      if (context_.park) {
        ParkRequest& park = *context_.park;
        args->call.result = abi::kParked;
        const bool watched = !park.wait.empty();
        args->host_watches = context_.parked_calls.park(args->waiter, std::move(park.wait)) && watched;
        if (park.timeout_ns) args->timeout_ns = std::max<std::uint64_t>(*park.timeout_ns, 1);
        args->timeout_result = park.timeout_result;
        context_.park.reset();
      }
      trace_call("host", args->call, true);
      memory_.write(argument_address, *args);
      return std::nullopt;
    }
    case abi::Hypercall::kTrace: {
      auto args = memory_.read<abi::SyscallArgs>(argument_address);
      if (!args) return bad_arguments();
      trace_call("guest", *args, false);
      return std::nullopt;
    }
    case abi::Hypercall::kDiscard: {
      auto args = memory_.read<abi::DiscardArgs>(argument_address);
      if (!args) return bad_arguments();
      // Only the app's memory may be given back; never the kernel's or the page tables.
      const bool in_app = range_between(args->address, args->length, abi::kUserSpaceStart, layout_.page_tables_base);
      args->result = in_app && memory_.discard(args->address, args->length) ? 0 : -EINVAL;
      if (args->result == 0) context_.file_mappings.forget(args->address, args->length);
      memory_.write(argument_address, *args);
      if (trace_) {
        write_trace_line(
            fmt::format("[hyperlet hypercall] discard({:#x}, {}) = {}", args->address, args->length, args->result));
      }
      return std::nullopt;
    }
    case abi::Hypercall::kFileMapping: {
      auto args = memory_.read<abi::FileMappingArgs>(argument_address);
      if (!args) return bad_arguments();
      args->result = file_mapping(*args);
      memory_.write(argument_address, *args);
      if (trace_) {
        static constexpr const char* kOps[] = {"map", "move", "sync", "share-anonymous"};
        const auto op = static_cast<std::uint32_t>(args->op);
        write_trace_line(fmt::format(
            "[hyperlet hypercall] file-mapping({}, {:#x}, {}, fd {}, offset {}, source {:#x}) = {}",
            op < 4 ? kOps[op] : "?", args->address, args->length, args->fd, args->offset, args->source, args->result));
      }
      return std::nullopt;
    }
    case abi::Hypercall::kVectorState: {
      auto args = memory_.read<abi::VectorStateArgs>(argument_address);
      if (!args) return bad_arguments();
      args->result = vector_state(*args);
      memory_.write(argument_address, *args);
      return std::nullopt;
    }
    case abi::Hypercall::kSyscallSite: {
      auto args = memory_.read<abi::SyscallSiteArgs>(argument_address);
      if (!args) return bad_arguments();
      args->result = rewrite_syscall_site(args->address);
      memory_.write(argument_address, *args);
      if (trace_) {
        write_trace_line(
            fmt::format("[hyperlet hypercall] syscall-site({:#x}) = {}{}", args->address, args->result,
                        args->result == 0 ? " (a `syscall` the analysis missed, rewritten as it ran)" : ""));
      }
      return std::nullopt;
    }
    case abi::Hypercall::kFork:
    case abi::Hypercall::kVfork: {
      // The run loop serves it (vm/micro_vm.cpp); a VM without one (embedded) cannot fork.
      auto args = memory_.read<abi::ForkArgs>(argument_address);
      if (!args) return bad_arguments();
      args->result = -ENOSYS;
      memory_.write(argument_address, *args);
      return std::nullopt;
    }
    case abi::Hypercall::kExec:
    case abi::Hypercall::kExecAt: {
      auto args = memory_.read<abi::ExecArgs>(argument_address);
      if (!args) return bad_arguments();
      args->result = -ENOSYS;
      memory_.write(argument_address, *args);
      return std::nullopt;
    }
    case abi::Hypercall::kSleep: {
      // Every app thread waits and the earliest futex timeout is this far off.
      auto args = memory_.read<abi::SleepArgs>(argument_address);
      if (!args) return bad_arguments();
      // 0 ns (--cpus above 1): a vCPU waiting for the guest's kernel lock lets
      // the holder's vCPU thread have this host CPU.
      if (args->nanoseconds == 0) {
        sched_yield();
        return std::nullopt;
      }
      // Interrupted (--timeout, Ctrl-C, a kick): the run loop sees a stop; otherwise
      // the guest finds its deadline not yet reached, or a parked call ready, and
      // asks again.
      // A signal for the app that the run loop put in guest memory after the
      // guest kernel last looked (it was on its way here): no sleep, it looks again.
      if (auto signals = memory_.read<abi::SignalState>(abi::kSignalStateAddr); signals && signals->from_host != 0) {
        return std::nullopt;
      }
      const std::optional<std::uint64_t> timeout =
          args->nanoseconds == abi::kSleepForever ? std::nullopt : std::optional(args->nanoseconds);
      if (!context_.parked_calls.wait_idle(timeout, hooks_.wake_fd)) context_.interrupted = true;
      if (trace_) write_trace_line(fmt::format("[hyperlet hypercall] sleep({} ns)", args->nanoseconds));
      return std::nullopt;
    }
    case abi::Hypercall::kDeadlock: {
      auto args = memory_.read<abi::DeadlockArgs>(argument_address);
      if (!args) return bad_arguments();
      if (args->threads <= 1) {
        return fail(ExitStatus::kAppDeadlock,
                    "app deadlocked: its only thread waits on futex {:#x} with no timeout, and nothing can wake it",
                    args->futex_address);
      }
      return fail(ExitStatus::kAppDeadlock,
                  "app deadlocked: all {} of its threads wait on futexes with no timeout, and none can run",
                  args->threads);
    }
    case abi::Hypercall::kThreadsStarted:
      return std::nullopt;  // the run loop reads PreemptState after every exit
    case abi::Hypercall::kKickCpus:
    case abi::Hypercall::kShootdown: {
      auto args = memory_.read<abi::CpusArgs>(argument_address);
      if (!args) return bad_arguments();
      const auto& hook = call == static_cast<std::uint64_t>(abi::Hypercall::kKickCpus) ? hooks_.kick : hooks_.interrupt;
      if (hook) hook(args->cpus);
      return std::nullopt;
    }
    case abi::Hypercall::kFault: {
      auto args = memory_.read<abi::FaultArgs>(argument_address);
      if (!args) return bad_arguments();
      Error error = describe_fault(*args, layout_, symbols_(), syscall_trap_);
      if (error.status != ExitStatus::kGuestKernelFault) error.message += memory_note();
      return std::unexpected(std::move(error));
    }
    case abi::Hypercall::kCount:
      break;
  }
  return fail(ExitStatus::kVmFailure, "unknown hypercall {}", call);
}

}  // namespace hyperlet
