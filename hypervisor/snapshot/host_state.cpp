#include "snapshot/host_state.h"

#include <fmt/format.h>

#include <map>

#include "devices/fd_snapshot.h"
#include "devices/host_syscalls.h"

namespace hyperlet::snapshot {
namespace {

// hyperlet's own stdin/stdout/stderr as the app holds them (0-2, or dups).
bool is_console(const OpenFile& file) {
  return !file.owned.valid() && file.host_fd >= 0 && file.host_fd <= 2 && file.socket == nullptr &&
         file.epoll == nullptr && file.volume == nullptr;
}

// `pipes`: a number for each pipe, the same for its two ends.
FdDescription describe(const OpenFile& file, std::map<const int*, std::uint64_t>& pipes) {
  using Kind = OpenFile::Anonymous::Kind;
  if (is_console(file)) return nlohmann::json{{"kind", "console"}, {"stream", file.host_fd}};
  if (file.epoll != nullptr) return describe_epoll(file);
  if (file.socket != nullptr) return describe_published_socket(file);
  if (file.is_ancestor() || file.volume != nullptr) return describe_volume_file(file);
  switch (file.anonymous.kind) {
    case Kind::kPipeRead:
    case Kind::kPipeWrite:
      return describe_pipe_end(file, pipes.try_emplace(file.anonymous.pipe.get(), pipes.size()).first->second);
    case Kind::kEventfd:
      return describe_eventfd(file);
    case Kind::kTimerfd:
      return describe_timerfd(file);
    case Kind::kSignalfd:
      return std::unexpected("a signalfd (not kept in snapshots yet)");
    case Kind::kNone:
      break;
  }
  return std::unexpected("a socket pair or a memfd (not kept in snapshots yet)");
}

}  // namespace

Result<nlohmann::json> capture_files(const SyscallContext& context) {
  if (context.socket_buffers.attached() || context.file_ring.attached()) {
    return fail(ExitStatus::kUsage,
                "cannot snapshot the app: it already shares socket buffers or the file ring with the host (not "
                "kept in snapshots yet; call hyperlet::ready() before the first epoll_wait, accept or file read)");
  }
  if (!context.file_mappings.empty()) {
    // Restored, they would be private copies: stores would no longer reach the
    // file (or the other processes), and reads would not see its new bytes.
    const FileMappings::Entry& first = context.file_mappings.entries().front();
    return fail(ExitStatus::kUsage,
                "cannot snapshot the app: it has {} MAP_SHARED mapping{} ({} at {:#x}), which a snapshot cannot "
                "keep shared (not kept in snapshots yet; take it before the app maps a file or shared memory)",
                context.file_mappings.size(), context.file_mappings.size() == 1 ? "" : "s", first.name, first.address);
  }
  nlohmann::json fds = nlohmann::json::array();
  std::map<const OpenFile*, int> first_fd;  // dup'ed fds share one open file, as on Linux
  std::map<const int*, std::uint64_t> pipes;
  for (const int fd : context.files.fds.open_fds()) {
    const OpenFile* file = context.files.fds.get(fd);
    nlohmann::json entry{{"fd", fd}, {"cloexec", context.files.fds.cloexec(fd)}};
    if (auto shared = first_fd.find(file); shared != first_fd.end()) {
      entry["same_as"] = shared->second;
    } else {
      auto description = describe(*file, pipes);
      if (!description) {
        return fail(ExitStatus::kUsage, "cannot snapshot the app: its fd {} is {}", fd, description.error());
      }
      entry["file"] = std::move(*description);
      first_fd.emplace(file, fd);
    }
    fds.push_back(std::move(entry));
  }
  return nlohmann::json{{"fds", fds}, {"cwd", context.files.cwd}, {"umask", context.files.umask}};
}

Result<void> restore_files(SyscallContext& context, const nlohmann::json& files) {
  auto refuse = [](const std::string& why) -> Result<void> {
    return fail(ExitStatus::kUsage, "cannot restore the app: {}", why);
  };
  try {
    FdTable& table = context.files.fds;
    for (const int fd : table.open_fds()) table.close(fd);  // the fresh table's console
    PipeRestore pipes;
    context.files.cwd = files.at("cwd").get<std::string>();
    context.files.umask = files.at("umask").get<mode_t>() & 0777;
    // Epoll sets name other fds: they come after everything else.
    for (const bool epoll_pass : {false, true}) {
      for (const auto& entry : files.at("fds")) {
        const int fd = entry.at("fd").get<int>();
        const bool cloexec = entry.at("cloexec").get<bool>();
        if (fd < 0 || fd >= FdTable::kLimit) return refuse(fmt::format("fd {} is out of range", fd));
        if (entry.contains("same_as")) continue;  // placed below, once its open file exists
        const nlohmann::json& description = entry.at("file");
        const std::string kind = description.at("kind").get<std::string>();
        if ((kind == "epoll") != epoll_pass) continue;
        RestoredFile file = std::unexpected(std::string("an unknown kind of fd"));
        if (kind == "console") {
          const int stream = description.at("stream").get<int>();
          if (stream < 0 || stream > 2) return refuse(fmt::format("fd {} names console stream {}", fd, stream));
          auto console = std::make_shared<OpenFile>();
          console->host_fd = context.files.console_fds[static_cast<std::size_t>(stream)];
          file = console;
        } else if (kind == "file" || kind == "ancestor") {
          file = restore_volume_file(context, description);
        } else if (kind == "socket") {
          file = restore_published_socket(context, description);
        } else if (kind == "epoll") {
          file = restore_epoll(context, description);
        } else if (kind == "pipe") {
          file = restore_pipe_end(context, description, pipes);
        } else if (kind == "eventfd") {
          file = restore_eventfd(context, description);
        } else if (kind == "timerfd") {
          file = restore_timerfd(context, description);
        }
        if (!file) return refuse(fmt::format("fd {}: {}", fd, file.error()));
        table.place(fd, std::move(*file), cloexec);
      }
    }
    for (const auto& entry : files.at("fds")) {
      if (!entry.contains("same_as")) continue;
      const int fd = entry.at("fd").get<int>();
      auto original = table.share(entry.at("same_as").get<int>());
      if (original == nullptr || fd < 0 || fd >= FdTable::kLimit) {
        return refuse(fmt::format("fd {} is a dup of an fd the snapshot does not have", fd));
      }
      table.place(fd, std::move(original), entry.at("cloexec").get<bool>());
    }
  } catch (const nlohmann::json::exception& error) {
    return refuse(fmt::format("its host state is malformed ({})", error.what()));
  }
  return {};
}

}  // namespace hyperlet::snapshot
