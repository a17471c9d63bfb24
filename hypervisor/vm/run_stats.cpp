#include "vm/run_stats.h"

#include <fmt/format.h>

#include <ctime>

#include "core/message_prefix.h"

namespace hyperlet {

std::uint64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(now.tv_nsec);
}

std::string format_stats(const RunStats& stats) {
  std::string out =
      stats.forked_from == 0
          ? message_prefix() + " stats:\n  boot phases (ms since hyperlet started):\n"
          : fmt::format("{} stats of process {} (forked from {}; from the fork on):\n  phases (ms since the fork):\n",
                        message_prefix(), stats.process_id, stats.forked_from);
  auto phase = [&](const char* name, std::uint64_t at) {
    if (at == 0) {
      out += fmt::format("    {:<20} -\n", name);
    } else {
      out += fmt::format("    {:<20} {:8.3f}\n", name, static_cast<double>(at - stats.started) / 1e6);
    }
  };
  phase("vm created", stats.vm_created);
  // A forked child loads no image: it goes on from its parent's state.
  if (stats.restored && stats.forked_from == 0) {
    phase("snapshot restored", stats.image_loaded);
  } else if (stats.forked_from == 0) {
    phase("image loaded", stats.image_loaded);
    phase("first instruction", stats.first_instruction);
    phase("app entry", stats.app_entry);
  }
  if (stats.ready != 0) phase("ready", stats.ready);
  phase("exit", stats.exited);
  auto table = [&](const char* title, const std::map<std::string, std::uint64_t>& counts) {
    std::uint64_t total = 0;
    for (const auto& [name, count] : counts) total += count;
    out += fmt::format("  {}: {}\n", title, total);
    for (const auto& [name, count] : counts) out += fmt::format("    {:<20} {}\n", name, count);
  };
  table("VM exits", stats.exits);
  for (std::size_t cpu = 0; cpu < stats.vcpus.size(); ++cpu) {
    out += fmt::format("    vCPU {:<15} {} exits, {:.1f} ms in the guest\n", cpu, stats.vcpus[cpu].exits,
                       static_cast<double>(stats.vcpus[cpu].run_ns) / 1e6);
  }
  table("hypercalls", stats.hypercalls);
  table("syscalls", stats.syscalls);
  if (!stats.kvm_vcpu.empty()) {
    out += "  KVM vCPU counters (non-zero):\n";
    for (const auto& [name, count] : stats.kvm_vcpu) out += fmt::format("    {:<20} {}\n", name, count);
  }
  out += fmt::format("  syscall entry: {} ({} sites rewritten{})\n", stats.syscall_entry, stats.syscall_sites,
                     stats.syscall_sites_from.empty() ? "" : ", " + stats.syscall_sites_from);
  out += fmt::format("  guest pages touched: {} ({} KiB)\n", stats.guest_pages_touched, stats.guest_pages_touched * 4);
  if (stats.memory_budget != 0) {
    constexpr double kMiB = 1 << 20;
    out += fmt::format(
        "  memory budget: {:.1f} MiB in use at the end, {:.1f} MiB at most, of {:.1f} MiB (heap and usable "
        "mappings; --memory); address space {} MiB\n",
        static_cast<double>(stats.memory_charged) / kMiB, static_cast<double>(stats.memory_charged_peak) / kMiB,
        static_cast<double>(stats.memory_budget) / kMiB, stats.address_space >> 20);
  }
  if (stats.deferred_writes != 0 || stats.stashed_inputs != 0) {
    out += fmt::format("  socket buffers: {} deferred writes sent, {} inputs stashed\n", stats.deferred_writes,
                       stats.stashed_inputs);
  }
  if (stats.file_ring_requests != 0) {
    out += fmt::format("  file ring: {} reads and writes ({} by the poller), {} kicks\n", stats.file_ring_requests,
                       stats.file_ring_by_poller, stats.file_ring_kicks);
  }
  if (stats.parked_calls != 0) {
    out += fmt::format("  parked calls: {} (other threads ran meanwhile), {} woken by readiness\n", stats.parked_calls,
                       stats.parked_woken);
  }
  if (stats.slices_injected != 0) {
    out += fmt::format("  thread time slices: {} ended by the host, {} received by the guest\n", stats.slices_injected,
                       stats.slices_received);
  }
  return out;
}

}  // namespace hyperlet
