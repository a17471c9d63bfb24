// What the targets that drive a guest's host side share (host_syscalls,
// hypercalls): a TestGuest whose console is /dev/null with a read-write volume,
// a deadline for each call, and the invariants a hostile guest must never
// break: nothing created on the host outside the volume's directory (a path,
// symlink or rename that escapes it), and every host fd the app's files held
// closed when its context goes (no fd leak to exhaust the host).
#pragma once

#include <functional>

#include "test_guest.h"

namespace hyperlet::fuzz {

class FuzzGuest : public TestGuest {
 public:
  // The app's console is /dev/null: its reads of stdin must end at once (the
  // fuzzer's own stdin may be a pipe that never does), and its writes are noise.
  FuzzGuest();
  using TestGuest::call;
  using TestGuest::context_;
  using TestGuest::layout_;
  using TestGuest::memory_;
  using TestGuest::mount_temp_volume;
  using TestGuest::table_;
};

// A call may rightly wait for ever (pselect with no fds, a read of an empty
// pipe whose writer the app holds, a sleep hypercall with no deadline): a timer
// interrupts every call after 20 ms, as a signal would interrupt the app's, so
// that such inputs are not hangs.
class CallDeadline {
 public:
  CallDeadline();
  CallDeadline(const CallDeadline&) = delete;
  CallDeadline& operator=(const CallDeadline&) = delete;
  ~CallDeadline();
};

// Runs `body` over a FuzzGuest with a volume at /data whose directory is alone
// in a directory of its own, then checks both invariants (fuzz_failure when one
// broke).
void run_contained(const std::function<void(FuzzGuest&)>& body);

}  // namespace hyperlet::fuzz
