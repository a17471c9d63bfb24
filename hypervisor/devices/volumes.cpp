#include "devices/volumes.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hyperlet {

Result<VolumeSpec> parse_volume_spec(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(ExitStatus::kUsage, "invalid --volume '{}': {} (expected HOST_PATH:GUEST_PATH[:ro|:rw])", text, why);
  };
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  VolumeSpec spec;
  if (parts.size() == 3) {
    if (parts[2] != "ro" && parts[2] != "rw") return bad(fmt::format("unknown mode '{}' (ro or rw)", parts[2]));
    spec.read_only = parts[2] == "ro";
    spec.mode_given = true;
  } else if (parts.size() != 2) {
    return bad("wrong number of ':'");
  }
  if (parts[0].empty()) return bad("empty host path");
  if (!parts[1].starts_with('/')) return bad("the guest path must be absolute");
  auto guest = normalize_guest_path("/", parts[1]);
  if (!guest) return bad("the guest path is too long");
  spec.host_dir = std::string(parts[0]);
  spec.guest_dir = std::move(*guest);
  return spec;
}

std::optional<std::string> normalize_guest_path(std::string_view base, std::string_view path) {
  std::vector<std::string_view> components;
  auto add = [&](std::string_view text) {
    for (std::size_t start = 0; start <= text.size();) {
      std::size_t slash = text.find('/', start);
      if (slash == std::string_view::npos) slash = text.size();
      const std::string_view name = text.substr(start, slash - start);
      if (name == "..") {
        if (!components.empty()) components.pop_back();
      } else if (!name.empty() && name != ".") {
        components.push_back(name);
      }
      start = slash + 1;
    }
  };
  if (!path.starts_with('/')) add(base);
  add(path);
  if (components.empty()) return std::string(1, '/');
  std::string result;
  for (std::string_view name : components) {
    result += '/';
    result += name;
  }
  if (result.size() >= kGuestPathMax) return std::nullopt;
  return result;
}

Result<std::vector<Volume>> open_volumes(const std::vector<VolumeSpec>& specs) {
  std::vector<Volume> volumes;
  for (const VolumeSpec& spec : specs) {
    const std::string text = fmt::format("{}:{}{}", spec.host_dir, spec.guest_dir, spec.read_only ? ":ro" : "");
    for (const Volume& other : volumes) {
      if (other.guest_dir == spec.guest_dir) {
        return fail(ExitStatus::kUsage, "invalid --volume '{}': guest path {} is already a volume", text,
                    spec.guest_dir);
      }
    }
    // The host path is the command line's own choice, so a symlink there is followed (once, now).
    UniqueFd dir(::open(spec.host_dir.c_str(), O_PATH | O_CLOEXEC));
    struct stat info {};
    if (!dir.valid() || ::fstat(dir.get(), &info) != 0) {
      return fail(ExitStatus::kUsage, "invalid --volume '{}': host path {}: {}", text, spec.host_dir,
                  std::strerror(errno));
    }
    const bool file = S_ISREG(info.st_mode);
    if (!file && !S_ISDIR(info.st_mode)) {
      return fail(ExitStatus::kUsage, "invalid --volume '{}': host path {} is neither a directory nor a regular file",
                  text, spec.host_dir);
    }
    if (file && spec.guest_dir == "/") {
      return fail(ExitStatus::kUsage, "invalid --volume '{}': a file cannot be the volume at /", text);
    }
    volumes.push_back(Volume{spec.guest_dir, spec.host_dir, spec.read_only, std::move(dir), file});
  }
  return volumes;
}

namespace {

// `inner` is `outer` or lies below it (both normalised).
bool is_within(const std::string& inner, const std::string& outer) {
  if (outer == "/") return true;
  return inner.starts_with(outer) && (inner.size() == outer.size() || inner[outer.size()] == '/');
}

}  // namespace

GuestLocation locate(const std::vector<Volume>& volumes, const std::string& path) {
  GuestLocation location;
  for (const Volume& volume : volumes) {
    if (is_within(path, volume.guest_dir) &&
        (location.volume == nullptr || volume.guest_dir.size() > location.volume->guest_dir.size())) {
      location.volume = &volume;
    }
  }
  if (location.volume != nullptr) {
    location.kind = GuestLocation::Kind::kVolume;
    const std::string& dir = location.volume->guest_dir;
    location.relative = path.size() <= dir.size() ? "" : path.substr(dir == "/" ? 1 : dir.size() + 1);
    return location;
  }
  if (path == "/") {
    location.kind = GuestLocation::Kind::kAncestor;
    return location;
  }
  for (const Volume& volume : volumes) {
    if (is_within(volume.guest_dir, path)) location.kind = GuestLocation::Kind::kAncestor;
  }
  return location;
}

std::vector<std::string> ancestor_entries(const std::vector<Volume>& volumes, const std::string& path) {
  std::vector<std::string> names;
  for (const Volume& volume : volumes) {
    if (volume.guest_dir == path || !is_within(volume.guest_dir, path)) continue;
    const std::size_t start = path == "/" ? 1 : path.size() + 1;
    std::string name = volume.guest_dir.substr(start, volume.guest_dir.find('/', start) - start);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<void> check_working_directory(const std::vector<Volume>& volumes, const std::string& path) {
  const GuestLocation location = locate(volumes, path);
  if (location.kind == GuestLocation::Kind::kOutside) {
    return fail(ExitStatus::kUsage,
                "invalid --workdir {}: outside every --volume (the app sees only its volumes and the directories "
                "above them; grant one with --volume HOST_DIR:{})",
                path, path);
  }
  if (location.kind == GuestLocation::Kind::kAncestor) return {};
  // Resolved as the app's own paths are: beneath the volume, so a symlink cannot leave it.
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const std::string& relative = location.relative.empty() ? std::string(".") : location.relative;
  const long fd = ::syscall(SYS_openat2, location.volume->dir.get(), relative.c_str(), &how, sizeof how);
  if (fd < 0) {
    const int error = errno;
    return fail(ExitStatus::kUsage, "invalid --workdir {}: {} in --volume {}:{}", path,
                error == EXDEV ? "a symlink leads out of the volume" : std::strerror(error), location.volume->host_dir,
                location.volume->guest_dir);
  }
  ::close(static_cast<int>(fd));
  return {};
}

}  // namespace hyperlet
