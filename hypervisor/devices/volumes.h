// Volumes: the host directories and single files the command line grants
// (--volume), and the guest's view of paths. Guest paths are normalised lexically here (".", "..",
// "//"), then matched against the volumes' guest directories; the part below a
// volume is resolved on the host beneath the volume's directory fd
// (openat2 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so nothing can escape it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/unique_fd.h"

namespace hyperlet {

// Linux's PATH_MAX: a path, with its NUL, must fit in this many bytes.
inline constexpr std::size_t kGuestPathMax = 4096;

// One --volume HOST_PATH:GUEST_PATH[:ro|:rw], as written. HOST_PATH is a
// directory or a regular file (a file volume: that one file at GUEST_PATH).
struct VolumeSpec {
  std::string host_dir;
  std::string guest_dir;  // normalised, absolute
  bool read_only = false;
  bool mode_given = false;  // :ro or :rw written: a manifest's mode does not replace it
};

// Parses HOST_PATH:GUEST_PATH[:ro|:rw]; the error says what is wrong with it.
Result<VolumeSpec> parse_volume_spec(std::string_view text);

// `path` made absolute against `base` (an absolute, normalised guest path) and
// normalised: no ".", "..", empty or trailing components; ".." of "/" is "/".
// nullopt when the result does not fit in kGuestPathMax (ENAMETOOLONG).
std::optional<std::string> normalize_guest_path(std::string_view base, std::string_view path);

// A granted directory or file, open on the host.
struct Volume {
  std::string guest_dir;  // normalised, absolute; a file volume's path
  std::string host_dir;
  bool read_only = false;
  UniqueFd dir;  // O_PATH: the directory, or the file of a file volume
  // A file volume: the inode opened at start is all the app reaches there (a
  // rename or symlink swap of the host path later changes nothing), nothing lies
  // below it, and it cannot be unlinked or renamed (EBUSY, as a mount point).
  bool file = false;
};

// Opens every volume's host directory or file; a missing host path, one that is
// neither a directory nor a regular file, a file at /, or two volumes at the same
// guest path, fail with ExitStatus::kUsage.
Result<std::vector<Volume>> open_volumes(const std::vector<VolumeSpec>& specs);

// Where a normalised guest path lies.
struct GuestLocation {
  enum class Kind { kOutside, kVolume, kAncestor };
  Kind kind = Kind::kOutside;
  const Volume* volume = nullptr;  // kVolume: the innermost volume holding the path
  std::string relative;            // kVolume: path below the volume's directory, "" = the directory itself
};

// kVolume for a path in or below a volume (the longest guest_dir wins), kAncestor
// for "/" and for directories above a volume (read-only, listing only the way to
// the volumes), kOutside otherwise.
GuestLocation locate(const std::vector<Volume>& volumes, const std::string& path);

// Whether `path` (normalised, absolute) can be the app's working directory, as
// chdir would judge it: a directory in a volume, or one above a volume; a path
// outside every volume, missing or not a directory is ExitStatus::kUsage naming
// --workdir.
Result<void> check_working_directory(const std::vector<Volume>& volumes, const std::string& path);

// The names directly below an ancestor directory that lead to volumes, sorted.
std::vector<std::string> ancestor_entries(const std::vector<Volume>& volumes, const std::string& path);

}  // namespace hyperlet
