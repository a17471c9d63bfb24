// vfork and posix_spawn (clone with CLONE_VM | CLONE_VFORK). On Linux the
// child borrows its parent's memory until it execs or ends, and the parent
// waits until then: glibc's posix_spawn reports a failed exec through that
// memory, and a vfork child's stores are the parent's. Here the child is a
// forked hyperlet over a copy-on-write copy of guest memory
// (vm/micro_vm.cpp: fork_app), so when it execs or ends, its host process
// sends the parent the app pages it wrote, and the parent, which waited for
// exactly that, puts them in its own memory before it goes on.
//
// The pages a child wrote are the ones its process alone holds after the fork
// (/proc/self/pagemap's exclusive bit): writing one copies it. Nothing else
// writes to the parent's memory meanwhile (its vCPU and file ring poller wait),
// so a page the child sends is never older than the parent's: nothing the app
// did not write is ever put back.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "core/unique_fd.h"

namespace hyperlet {

class GuestMemory;

// Guest addresses [start, end).
struct GuestRange {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

// A pipe: the parent keeps the read end, the child the write end.
struct VforkChannel {
  UniqueFd parent_end;
  UniqueFd child_end;
};
Result<VforkChannel> open_vfork_channel();

// In the child: sends the pages of `app` (page-aligned guest addresses) that
// this process wrote since the fork, except those in `excluded`, then
// `heap_end` (the child's heap end, for the parent's guest kernel to take; 0:
// unchanged), and ends the message. An all-zero page is sent as a mark,
// without its bytes. Where `pagemap_path` (this process's pagemap; another
// path only in tests) cannot be read, every page this process has backed is
// sent instead. Returns the pages sent; an error when the parent is gone.
Result<std::uint64_t> hand_back_written_pages(int fd, GuestMemory& memory, GuestRange app,
                                              std::span<const GuestRange> excluded, std::uint64_t heap_end = 0,
                                              const char* pagemap_path = "/proc/self/pagemap");

struct TakenPages {
  std::uint64_t pages = 0;     // pages received (each written unless already equal)
  std::uint64_t zero = 0;      // of which all-zero marks (a page the child only read may be one: some kernels
                               // back a read of untouched memory with a page of its own)
  bool complete = false;       // the child's message ended; false: it ended without one, or a stop signal
  std::uint64_t heap_end = 0;  // the child's heap end, when it differs from the parent's (0: unchanged)
};

// In the parent: waits for the child's message and writes its pages into
// `memory`, each only inside `app`. Returns early, incomplete, when the child
// ends without finishing it or when `stop_signal` becomes non-zero (checked
// whenever a signal interrupts the wait). A page outside `app` or a garbled
// message is an error (nothing after it is taken).
Result<TakenPages> take_written_pages(int fd, GuestMemory& memory, GuestRange app, const std::atomic<int>& stop_signal);

}  // namespace hyperlet
