// How each kind of guest fd is written into a snapshot and made again at
// restore (snapshot/host_state.cpp walks the fd table). Each device owns its
// own kinds, implemented next to the syscalls that made them: files in
// filesystem.cpp, sockets in sockets.cpp, epoll sets in readiness.cpp.
//
// A restore is checked against the restoring command line, never the one that
// took the snapshot: a file outside every --volume now, or a port no --publish
// rule grants now, ends the restore with one line.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <map>
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

// Pipe ends, with the bytes waiting in the pipe. Both ends of one pipe carry
// the same `pipe` number; the first restored makes the pipe, kept in
// PipeRestore for the second (an end the app had closed is closed again when
// the restore ends: a reader then sees EOF after the waiting bytes).
using PipeRestore = std::map<std::uint64_t, std::array<std::shared_ptr<OpenFile>, 2>>;
FdDescription describe_pipe_end(const OpenFile& file, std::uint64_t pipe);
RestoredFile restore_pipe_end(SyscallContext& context, const nlohmann::json& description, PipeRestore& pipes);

// eventfds (their count) and timerfds (clock, time left, interval, expirations
// not read yet).
FdDescription describe_eventfd(const OpenFile& file);
RestoredFile restore_eventfd(SyscallContext& context, const nlohmann::json& description);
FdDescription describe_timerfd(const OpenFile& file);
RestoredFile restore_timerfd(SyscallContext& context, const nlohmann::json& description);

// epoll sets; their registrations name other fds, so they are made last.
FdDescription describe_epoll(const OpenFile& file);
RestoredFile restore_epoll(SyscallContext& context, const nlohmann::json& description);

}  // namespace hyperlet
