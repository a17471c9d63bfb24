// The host's own hardening: before the run loop, hyperlet drops to the syscalls
// that serving a guest needs (a seccomp filter, as Solo5's hvt tender and
// Firecracker do). A guest that found a bug in a device handler still could not
// exec, fork, ptrace, mount, load modules, create VMs or open new KVM handles
// through hyperlet. Anything else hyperlet itself asks for afterwards is a
// hyperlet bug: the filter stops it with one line naming the syscall and status
// 125 (`hyperlet run --no-seccomp` runs without the filter). The rules are in
// hypervisor/tools/seccomp_filter_generator.cpp, compiled to BPF at build time.
#pragma once

#include "core/error.h"

namespace hyperlet {

// Installs the filter for every thread of the process (and the threads it
// creates later, e.g. the file ring's poller). `processes`: the app may fork
// (--processes), which needs more (tools/seccomp_filter_generator.cpp says what).
Result<void> restrict_host_syscalls(bool processes = false);

}  // namespace hyperlet
