// `hyperlet manifest`: writing the manifest and the syscall-site table into an
// image after it is linked (the toolchain's last step).
#pragma once

#include <string>

#include "core/error.h"
#include "loader/manifest.h"

namespace hyperlet {

struct ManifestReport {
  std::uint64_t syscall_sites = 0;
};

// Replaces any earlier hyperlet notes of the image at `path` (in place, through
// objcopy from binutils). `manifest.abi` is set to the current ABI.
Result<ManifestReport> write_manifest(const std::string& path, Manifest manifest);

}  // namespace hyperlet
