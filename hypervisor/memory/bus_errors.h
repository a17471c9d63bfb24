// A file that shrinks takes its pages past the new end from every mapping of
// it; a process touching one of them gets SIGBUS. Guest pages mapped from a
// file (memory/file_mappings.h, and a restored snapshot's) are such pages, and
// hyperlet itself reads and writes guest memory (a path, a sockaddr, a struct
// the app passed): that touch must not kill hyperlet. The handler gives the
// page back as anonymous zeros and remembers the guest address, the access goes
// on, and the run then ends as the app's would: killed by SIGBUS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/error.h"

namespace hyperlet::bus_errors {

// Guest memory at [base, base + size) may hold file pages from now on
// (idempotent); installs the process's SIGBUS handler the first time.
Result<void> watch(const std::byte* base, std::uint64_t size);
void unwatch(const std::byte* base);
// The guest address of the first host access past a mapped file's end since
// the last call, if there was one.
std::optional<std::uint64_t> take(const std::byte* base);

}  // namespace hyperlet::bus_errors
