// process.terminal: a pseudo-terminal whose master goes to the caller's
// --console-socket (SCM_RIGHTS, as runc sends it to containerd's shim and to
// conmon) and whose slave becomes the container process's stdin, stdout and
// stderr and controlling terminal.
#pragma once

#include <string>

#include "core/error.h"
#include "core/unique_fd.h"

namespace hyperlet::runc {

// Opens a pty, sends its master to the unix socket at socket_path and returns the slave.
Result<UniqueFd> open_console(const std::string& socket_path);

// In the container's process, after setsid(): the slave becomes fds 0-2 and the controlling terminal.
bool attach_console(int slave);

}  // namespace hyperlet::runc
