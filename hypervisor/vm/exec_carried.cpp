#include "vm/exec_carried.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "devices/fd_table.h"

namespace hyperlet {

abi::ExecCarried carried_across_exec(const abi::ExecCarried& asked, const FdTable& fds) {
  abi::ExecCarried kept{};
  const std::uint32_t pending = std::min(asked.pending_count, abi::kExecCarriedSignals);
  for (std::uint32_t i = 0; i < pending; ++i) {
    const abi::ExecPendingSignal& signal = asked.pending[i];
    if (signal.signal >= 1 && signal.signal <= 64) kept.pending[kept.pending_count++] = signal;
  }
  const std::uint32_t signalfds = std::min(asked.signalfd_count, abi::kExecCarriedSignalfds);
  for (std::uint32_t i = 0; i < signalfds; ++i) {
    const abi::ExecSignalfd& signalfd = asked.signalfds[i];
    const OpenFile* file = fds.get(signalfd.fd);
    if (file == nullptr || file->anonymous.kind != OpenFile::Anonymous::Kind::kSignalfd) continue;
    const bool seen = std::any_of(kept.signalfds, kept.signalfds + kept.signalfd_count,
                                  [&](const abi::ExecSignalfd& other) { return other.fd == signalfd.fd; });
    if (seen) continue;
    // The counter is 1 or 0 (kSyscallSignalfdReady); looked at first, so the read cannot block.
    pollfd readable{file->host_fd, POLLIN, 0};
    std::uint64_t count = 0;
    if (::poll(&readable, 1, 0) == 1 && ::read(file->host_fd, &count, sizeof count) != sizeof count) continue;
    kept.signalfds[kept.signalfd_count++] = signalfd;
  }
  return kept;
}

}  // namespace hyperlet
