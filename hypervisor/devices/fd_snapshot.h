// How each kind of guest fd is written into a snapshot and made again at
// restore (snapshot/host_state.cpp walks the fd table). Each device owns its
// own kinds, implemented next to the syscalls that made them: files in
// filesystem.cpp, sockets in sockets.cpp, epoll sets in readiness.cpp.
//
// A restore is checked against the restoring command line, never the one that
// took the snapshot: a file outside every --volume now, or a port no --publish
// rule grants now, ends the restore with one line.
#pragma once

#include <expected>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "devices/fd_table.h"

namespace hyperlet {

class SyscallContext;

// A description of `file` (without its fd number), or why it cannot be kept.
using FdDescription = std::expected<nlohmann::json, std::string>;
using RestoredFile = std::expected<std::shared_ptr<OpenFile>, std::string>;

// Volume files and directories, and the directories above the volumes.
FdDescription describe_volume_file(const OpenFile& file);
RestoredFile restore_volume_file(SyscallContext& context, const nlohmann::json& description);

// Sockets bound through a --publish rule (TCP listening, or UDP): connections
// are not kept.
FdDescription describe_published_socket(const OpenFile& file);
RestoredFile restore_published_socket(SyscallContext& context, const nlohmann::json& description);

// epoll sets; their registrations name other fds, so they are made last.
FdDescription describe_epoll(const OpenFile& file);
RestoredFile restore_epoll(SyscallContext& context, const nlohmann::json& description);

}  // namespace hyperlet
