#include "devices/host_syscalls.h"

#include <fmt/format.h>
#include <hyperlet/abi.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/checked_range.h"
#include "core/message_prefix.h"
#include "core/trace_output.h"
#include "devices/blocking_calls.h"

namespace hyperlet {

void SyscallContext::report_denial(std::string_view what) const {
  if (trace) {
    write_trace_line(fmt::format("[hyperlet policy] denied: {}", what));
    return;
  }
  if (quiet || denial_reported) return;
  denial_reported = true;
  fmt::print(stderr, "{}: denied: {} (the first denial only: --trace shows each, --quiet none)\n", message_prefix(),
             what);
}

std::optional<std::span<std::byte>> SyscallContext::user_span(std::uint64_t address, std::uint64_t length) const {
  if (!range_between(address, length, abi::kUserSpaceStart, layout_.page_tables_base)) return std::nullopt;
  return memory_.span(address, length);
}

std::optional<std::vector<iovec>> SyscallContext::user_iovecs(std::uint64_t address, std::uint64_t count) const {
  // The whole array is checked first, so no entry's address can wrap.
  if (count > kMaxIovecs || !user_span(address, count * sizeof(iovec))) return std::nullopt;
  std::vector<iovec> result;
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    auto entry = read<iovec>(address + i * sizeof(iovec));
    if (!entry) return std::nullopt;
    if (entry->iov_len == 0) continue;
    auto bytes = user_span(reinterpret_cast<std::uint64_t>(entry->iov_base), entry->iov_len);
    if (!bytes) return std::nullopt;
    const std::uint64_t length = std::min<std::uint64_t>(bytes->size(), kMaxIo - total);
    if (length == 0) break;
    result.push_back(iovec{bytes->data(), length});
    total += length;
  }
  return result;
}

std::optional<std::string> SyscallContext::user_string(std::uint64_t address, std::size_t max_length) const {
  if (address < abi::kUserSpaceStart || address >= layout_.page_tables_base) return std::nullopt;
  const std::uint64_t available = std::min<std::uint64_t>(max_length, layout_.page_tables_base - address);
  auto bytes = memory_.span(address, available);
  if (!bytes) return std::nullopt;
  const char* text = reinterpret_cast<const char*>(bytes->data());
  const std::size_t length = strnlen(text, available);
  if (length == available) return std::nullopt;
  return std::string(text, length);
}

std::expected<std::string, int> SyscallContext::user_path(std::uint64_t address) const {
  if (address < abi::kUserSpaceStart || address >= layout_.page_tables_base) return std::unexpected(EFAULT);
  const std::uint64_t available = std::min<std::uint64_t>(kGuestPathMax, layout_.page_tables_base - address);
  auto bytes = memory_.span(address, available);
  if (!bytes) return std::unexpected(EFAULT);
  const char* text = reinterpret_cast<const char*>(bytes->data());
  const std::size_t length = strnlen(text, available);
  if (length == available) return std::unexpected(available == kGuestPathMax ? ENAMETOOLONG : EFAULT);
  return std::string(text, length);
}

std::int64_t HostSyscallTable::call(std::uint64_t number, SyscallContext& context, const SyscallArguments& args) const {
  // The app's deferred socket writes happened before this call: send them first.
  context.socket_buffers.send_deferred_writes(context);
  std::int64_t result = 0;
  const std::optional<BlockingFdCall> blocking = context.may_park ? blocking_fd_call(number, args) : std::nullopt;
  if (blocking) {
    result = perform_without_blocking(context, *blocking, [&] { return call_handler(number, context, args); });
  } else {
    result = call_handler(number, context, args);
  }
  const std::vector<int> changed = context.files.fds.take_changes();
  context.socket_buffers.update_slots(context, changed);
  context.file_ring.update_fds(context, changed);
  return result;
}

std::int64_t HostSyscallTable::call_handler(std::uint64_t number, SyscallContext& context,
                                            const SyscallArguments& args) const {
  auto it = handlers_.find(number);
  return it == handlers_.end() ? -ENOSYS : it->second(context, args);
}

HostSyscallTable make_host_syscall_table() {
  HostSyscallTable table;
  register_console_syscalls(table);
  register_clock_syscalls(table);
  register_shared_futex_syscalls(table);
  register_random_syscalls(table);
  register_filesystem_syscalls(table);
  register_guest_control_syscalls(table);
  register_robust_list_syscalls(table);
  register_socket_syscalls(table);
  register_readiness_syscalls(table);
  register_process_syscalls(table);
  register_process_group_syscalls(table);
  return table;
}

}  // namespace hyperlet
