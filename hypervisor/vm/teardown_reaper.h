// Taking the VM's teardown off hyperlet's exit path. Destroying a VM (the last
// close of its fd) and unmapping its memory cost ~0.5-1.5 ms here, and both
// happen before whoever started hyperlet learns that it ended. A reaper is a
// helper process that shares hyperlet's memory (CLONE_VM) and holds copies of
// its fds from the moment the VM exists; when hyperlet exits it gets SIGKILL
// (PR_SET_PDEATHSIG) and its own exit does the teardown, off the critical path.
//
// A process of its own is out of reach of hyperlet's seccomp filter (TSYNC
// covers threads only), yet it shares hyperlet's memory: whoever took over
// hyperlet could steer it. So the reaper drops to a filter of its own first
// (pause and exit, nothing else), and hyperlet waits for that before it serves
// the guest.
#pragma once

namespace hyperlet {

// Starts the reaper; false when it could not (hyperlet then tears down itself).
// Call from the thread that lives until hyperlet exits (PR_SET_PDEATHSIG fires
// when the creating thread ends), after the VM, its vCPU and memory exist.
bool start_teardown_reaper();

// Waits until the reaper runs under its filter; false when it could not install
// it (it has then exited, and hyperlet tears down itself). Call before the run loop.
bool teardown_reaper_filtered();

}  // namespace hyperlet
