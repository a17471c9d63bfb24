#include "memory/bus_errors.h"

#include <signal.h>
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace hyperlet::bus_errors {
namespace {

constexpr std::uintptr_t kPage = 4096;

// Read by the signal handler, so plain atomics in a fixed array: one slot per
// guest memory that has file pages (an embedding process may run several VMs).
struct Slot {
  std::atomic<std::uintptr_t> base{0};
  std::atomic<std::uint64_t> size{0};
  std::atomic<std::uint64_t> fault{0};  // guest address + 1 of the first bad touch
};
std::array<Slot, 64> slots;
struct sigaction previous_action;
std::once_flag installed;
int install_error = 0;

void on_bus_error(int signal, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (Slot& slot : slots) {
    const std::uintptr_t base = slot.base.load();
    if (base == 0 || address < base || address - base >= slot.size.load()) continue;
    void* page = reinterpret_cast<void*>(address & ~(kPage - 1));
    const int saved_errno = errno;
    void* zeros =
        ::mmap(page, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    errno = saved_errno;
    if (zeros == MAP_FAILED) break;
    std::uint64_t none = 0;
    slot.fault.compare_exchange_strong(none, address - base + 1);
    return;  // the access is made again, to the zeros
  }
  // Not guest memory: what SIGBUS did before.
  if ((previous_action.sa_flags & SA_SIGINFO) != 0 && previous_action.sa_sigaction != nullptr) {
    previous_action.sa_sigaction(signal, info, context);
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(signal);
  } else {
    ::signal(SIGBUS, SIG_DFL);  // the access faults again and the process ends as it would have
  }
}

void install() {
  struct sigaction action {};
  action.sa_sigaction = on_bus_error;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGBUS, &action, &previous_action) != 0) install_error = errno;
}

}  // namespace

Result<void> watch(const std::byte* base, std::uint64_t size) {
  std::call_once(installed, install);
  if (install_error != 0) {
    return fail(ExitStatus::kUsage, "cannot install the SIGBUS handler for mapped files: {}",
                std::strerror(install_error));
  }
  const auto key = reinterpret_cast<std::uintptr_t>(base);
  for (Slot& slot : slots) {
    if (slot.base.load() == key) return {};
  }
  for (Slot& slot : slots) {
    std::uintptr_t free = 0;
    if (!slot.base.compare_exchange_strong(free, key)) continue;
    // No file is mapped into this memory yet, so no fault can race these.
    slot.fault.store(0);
    slot.size.store(size);
    return {};
  }
  return fail(ExitStatus::kUsage, "more than {} VMs in this process map files", slots.size());
}

void unwatch(const std::byte* base) {
  const auto key = reinterpret_cast<std::uintptr_t>(base);
  for (Slot& slot : slots) {
    std::uintptr_t expected = key;
    if (slot.base.compare_exchange_strong(expected, 0)) return;
  }
}

std::optional<std::uint64_t> take(const std::byte* base) {
  const auto key = reinterpret_cast<std::uintptr_t>(base);
  for (Slot& slot : slots) {
    if (slot.base.load() != key) continue;
    const std::uint64_t fault = slot.fault.exchange(0);
    if (fault != 0) return fault - 1;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace hyperlet::bus_errors
