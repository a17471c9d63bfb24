// The one table of hyperlet's own exit statuses. The app's exit status passes
// through unchanged; these are used only when hyperlet itself ends the run.
#pragma once

#include <array>
#include <string_view>

namespace hyperlet {

enum class ExitStatus : int {
  kAppDeadlock = 119,
  kKvmUnavailable = 120,
  kGuestMemoryTooSmall = 121,
  kVmFailure = 122,
  kGuestKernelFault = 123,
  kTimeout = 124,
  kUsage = 125,
  kBadImage = 126,
  kImageNotFound = 127,
  // The app died of a CPU exception: 128 + the signal Linux would have sent,
  // the status a shell reports for the same program run natively.
  kAppSigill = 128 + 4,
  kAppSigtrap = 128 + 5,
  kAppSigbus = 128 + 7,
  kAppSigfpe = 128 + 8,
  kAppSigsegv = 128 + 11,
  kAppSigabrt = 128 + 6,
  // hyperlet was asked to stop (Ctrl-C, kill): it stops the app, as a shell
  // would report for a native program killed by the same signal.
  kStoppedBySigint = 128 + 2,
  kStoppedBySigterm = 128 + 15,
};

struct ExitStatusDescription {
  ExitStatus status;
  std::string_view meaning;
};

inline constexpr std::array kExitStatusTable = {
    ExitStatusDescription{ExitStatus::kAppDeadlock,
                          "every thread of the app waits on a futex with no timeout (a deadlock)"},
    ExitStatusDescription{ExitStatus::kKvmUnavailable, "/dev/kvm is missing or not permitted"},
    ExitStatusDescription{ExitStatus::kGuestMemoryTooSmall, "the app does not fit in --memory"},
    ExitStatusDescription{ExitStatus::kVmFailure,
                          "the VM failed: triple fault, KVM internal error, entry failure"},
    ExitStatusDescription{ExitStatus::kGuestKernelFault, "the guest kernel faulted"},
    ExitStatusDescription{ExitStatus::kTimeout, "--timeout expired"},
    ExitStatusDescription{ExitStatus::kUsage, "bad command line or internal error"},
    ExitStatusDescription{ExitStatus::kBadImage,
                          "the file is not a static x86-64 ELF program (or is malformed)"},
    ExitStatusDescription{ExitStatus::kImageNotFound, "the app file does not exist"},
    ExitStatusDescription{ExitStatus::kStoppedBySigint,
                          "hyperlet got SIGINT (Ctrl-C) and stopped the app (--stats are still printed)"},
    ExitStatusDescription{ExitStatus::kAppSigill, "the app ran an illegal instruction (SIGILL)"},
    ExitStatusDescription{ExitStatus::kAppSigtrap, "the app hit a breakpoint (SIGTRAP)"},
    ExitStatusDescription{ExitStatus::kAppSigabrt,
                          "the app aborted: abort(), an uncaught C++ exception (SIGABRT); other "
                          "signals it sends itself likewise end with 128 + the signal"},
    ExitStatusDescription{ExitStatus::kAppSigbus,
                          "the app made an alignment fault or touched a mapped file past its end (SIGBUS)"},
    ExitStatusDescription{ExitStatus::kAppSigfpe, "the app divided by zero (SIGFPE)"},
    ExitStatusDescription{ExitStatus::kAppSigsegv,
                          "the app faulted: bad memory access, stack overflow (SIGSEGV)"},
    ExitStatusDescription{ExitStatus::kStoppedBySigterm, "hyperlet got SIGTERM and stopped the app"},
};

constexpr int to_int(ExitStatus status) { return static_cast<int>(status); }

}  // namespace hyperlet
