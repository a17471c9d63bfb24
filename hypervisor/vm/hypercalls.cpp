#include "vm/hypercalls.h"

#include <fmt/format.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

#include "core/checked_range.h"
#include "devices/syscall_names.h"
#include "vm/fault_report.h"
#include "vm/syscall_arity.h"

namespace hyperlet {
namespace {

std::string format_result(std::int64_t result) {
  if (result < 0 && result >= -4095) {
    const int code = static_cast<int>(-result);
    const char* name = strerrorname_np(code);
    return fmt::format("-1 {} ({})", name != nullptr ? name : "E?", std::strerror(code));
  }
  if (result > 0xffff) return fmt::format("{:#x}", result);
  return fmt::format("{}", result);
}

}  // namespace

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
    case abi::Hypercall::kKickCpus:
      return "kick-cpus";
    case abi::Hypercall::kShootdown:
      return "shootdown";
    case abi::Hypercall::kCount:
      break;
  }
  return "unknown";
}

std::string format_syscall(const abi::SyscallArgs& call) {
  // The syscall's own arguments; for one not in the arity table, all six
  // registers without the trailing zeros.
  int count = 6;
  if (auto arity = syscall_arity(call.number)) {
    count = *arity;
  } else {
    while (count > 0 && call.args[count - 1] == 0) --count;
  }
  std::string arguments;
  for (int i = 0; i < count; ++i) {
    if (i != 0) arguments += ", ";
    arguments += call.args[i] > 0xffff ? fmt::format("{:#x}", call.args[i]) : fmt::format("{}", call.args[i]);
  }
  return fmt::format("{}({}) = {}", syscall_name(call.number), arguments, format_result(call.result));
}

std::string HypercallHandler::memory_note() const {
  auto status = memory_.read<abi::GuestStatus>(abi::kGuestStatusAddr);
  return status ? out_of_memory_note(*status, layout_.memory_size) : "";
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
        // A broken pipe ends `hyperlet run APP | head` as natively: status 141, no line.
        if (signal == SIGPIPE) return std::unexpected(Error{static_cast<ExitStatus>(128 + signal), ""});
        const char* abbreviation = sigabbrev_np(signal);
        return std::unexpected(Error{static_cast<ExitStatus>(128 + signal),
                                     fmt::format("app killed by SIG{} ({}){}", abbreviation ? abbreviation : "?",
                                                 strsignal(signal), memory_note())});
      }
      if (trace_) fmt::print(stderr, "[hyperlet guest] exit_group({})\n", args->status);
      return static_cast<int>(args->status & 0xff);
    }
    case abi::Hypercall::kHostSyscall:
    case abi::Hypercall::kKernelHostSyscall: {
      auto args = memory_.read<abi::SyscallArgs>(argument_address);
      if (!args) return bad_arguments();
      SyscallArguments values;
      std::copy(std::begin(args->args), std::end(args->args), values.begin());
      // Only the guest kernel's own calls reach its hidden fds (its MAP_SHARED files).
      const bool own_call = call == static_cast<std::uint64_t>(abi::Hypercall::kKernelHostSyscall);
      context_.files.fds.set_hidden_reachable(own_call);
      args->result = host_syscalls_.call(args->number, context_, values);
      context_.files.fds.set_hidden_reachable(false);
      memory_.write(argument_address, *args);
      if (trace_) fmt::print(stderr, "[hyperlet host] {}\n", format_syscall(*args));
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
        if (trace_) fmt::print(stderr, "[hyperlet host] {} (parked)\n", format_syscall(args->call));
      } else if (trace_) {
        fmt::print(stderr, "[hyperlet host] {}\n", format_syscall(args->call));
      }
      memory_.write(argument_address, *args);
      return std::nullopt;
    }
    case abi::Hypercall::kTrace: {
      auto args = memory_.read<abi::SyscallArgs>(argument_address);
      if (!args) return bad_arguments();
      if (trace_) fmt::print(stderr, "[hyperlet guest] {}\n", format_syscall(*args));
      return std::nullopt;
    }
    case abi::Hypercall::kDiscard: {
      auto args = memory_.read<abi::DiscardArgs>(argument_address);
      if (!args) return bad_arguments();
      // Only the app's memory may be given back; never the kernel's or the page tables.
      const bool in_app = range_between(args->address, args->length, abi::kUserSpaceStart, layout_.page_tables_base);
      args->result = in_app && memory_.discard(args->address, args->length) ? 0 : -EINVAL;
      memory_.write(argument_address, *args);
      if (trace_) {
        fmt::print(stderr, "[hyperlet hypercall] discard({:#x}, {}) = {}\n", args->address, args->length, args->result);
      }
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
      const std::optional<std::uint64_t> timeout =
          args->nanoseconds == abi::kSleepForever ? std::nullopt : std::optional(args->nanoseconds);
      if (!context_.parked_calls.wait_idle(timeout, hooks_.wake_fd)) context_.interrupted = true;
      if (trace_) fmt::print(stderr, "[hyperlet hypercall] sleep({} ns)\n", args->nanoseconds);
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
