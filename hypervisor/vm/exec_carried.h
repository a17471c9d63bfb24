// What a process keeps across execve of its signal state beyond dispositions
// and the mask (abi::ExecCarried): pending signals and signalfds.
#pragma once

#include <hyperlet/abi.h>

namespace hyperlet {

class FdTable;

// What the app's kernel says it keeps, from app-writable memory, cut down to
// what the new image may get: at most BootInfo's room, pending signals in
// 1..64, and only signalfds that are signalfds in `fds` after close-on-exec.
// Each kept signalfd's eventfd is emptied: the new guest kernel starts it
// unreadable and tells the host when a pending signal makes it readable.
abi::ExecCarried carried_across_exec(const abi::ExecCarried& asked, const FdTable& fds);

}  // namespace hyperlet
