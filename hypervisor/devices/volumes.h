// Volumes: the host directories the command line grants (--volume), and the
// guest's view of paths. Guest paths are normalised lexically here (".", "..",
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

// One --volume HOST_DIR:GUEST_DIR[:ro], as written.
struct VolumeSpec {
  std::string host_dir;
  std::string guest_dir;  // normalised, absolute
  bool read_only = false;
};

// Parses HOST_DIR:GUEST_DIR[:ro]; the error says what is wrong with it.
Result<VolumeSpec> parse_volume_spec(std::string_view text);

// `path` made absolute against `base` (an absolute, normalised guest path) and
// normalised: no ".", "..", empty or trailing components; ".." of "/" is "/".
// nullopt when the result does not fit in kGuestPathMax (ENAMETOOLONG).
std::optional<std::string> normalize_guest_path(std::string_view base, std::string_view path);

// A granted directory, open on the host.
struct Volume {
  std::string guest_dir;  // normalised, absolute
  std::string host_dir;
  bool read_only = false;
  UniqueFd dir;  // O_PATH | O_DIRECTORY
};

// Opens every volume's host directory; a missing or non-directory host path, or
// two volumes at the same guest directory, fail with ExitStatus::kUsage.
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
