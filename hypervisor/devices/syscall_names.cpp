#include "devices/syscall_names.h"

#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <hyperlet/file_ring.h>
#include <hyperlet/socket_buffers.h>

#include <algorithm>
#include <string_view>
#include <utility>

namespace hyperlet {
namespace {

constexpr std::pair<std::uint64_t, std::string_view> kNames[] = {
#include "syscall_names.inc"
};

}  // namespace

std::string syscall_name(std::uint64_t number) {
  const auto* it =
      std::find_if(std::begin(kNames), std::end(kNames), [&](const auto& entry) { return entry.first == number; });
  if (it != std::end(kNames)) return std::string(it->second);
  if (number == abi::kSyscallReady) return "hyperlet_ready";
  if (number == abi::kSyscallSocketBuffers) return "hyperlet_socket_buffers";
  if (number == abi::kSyscallFileRing) return "hyperlet_file_ring";
  if (number == abi::kSyscallFileRingKick) return "hyperlet_file_ring_kick";
  if (number == abi::kSyscallSignalfd) return "hyperlet_signalfd";
  if (number == abi::kSyscallSignalfdReady) return "hyperlet_signalfd_ready";
  return fmt::format("syscall_{}", number);
}

std::optional<std::uint64_t> syscall_number(std::string_view name) {
  const auto* it =
      std::find_if(std::begin(kNames), std::end(kNames), [&](const auto& entry) { return entry.second == name; });
  if (it == std::end(kNames)) return std::nullopt;
  return it->first;
}

}  // namespace hyperlet
