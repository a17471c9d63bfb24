// The files an image ships in its manifest (`hyperlet manifest --file`), given
// to the app as read-only file volumes: written once into a content-addressed
// directory under hyperlet's cache (devices/content_cache.h), so the app reads
// the host copy with ordinary file I/O and a write is EROFS.
#pragma once

#include <vector>

#include "core/error.h"
#include "devices/volumes.h"
#include "loader/manifest.h"

namespace hyperlet {

// The read-only file volumes for `files`, except where a volume of `volumes`
// (the command line's) decides what is at the path already: one at it, or a
// directory above it holding that name. Files but no cache directory to write
// them in: ExitStatus::kUsage naming XDG_CACHE_HOME and HOME.
Result<std::vector<VolumeSpec>> shipped_file_volumes(const std::vector<ManifestFile>& files,
                                                     const std::vector<VolumeSpec>& volumes);

}  // namespace hyperlet
