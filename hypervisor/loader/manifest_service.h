// The manifest's description of the service: the volumes it expects, the ports
// it serves, the connections it needs, cpus, working directory, host name and
// the files shipped inside the image. Read from and written to the manifest's
// JSON here, and checked the same way on both sides, so a hostile image is
// refused with one line and `hyperlet manifest` cannot write what `run` refuses.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "loader/manifest.h"

namespace hyperlet {

// Bounds: a manifest rides in every image and is read before anything runs.
inline constexpr std::size_t kManifestMaxEntries = 64;          // per list (volumes, publish, ...)
inline constexpr std::size_t kManifestMaxFileSize = 256 << 10;  // one shipped file
inline constexpr std::size_t kManifestMaxFilesTotal = 1 << 20;  // all shipped files
inline constexpr std::size_t kManifestMaxRuleLength = 256;      // one publish or allow-connect rule
inline constexpr std::uint32_t kManifestMaxCpus = 256;
inline constexpr std::size_t kManifestMaxJsonSize = 2 << 20;  // the whole note (files in base64)

// Whether `key` is one of the service's keys of the manifest JSON.
bool is_service_key(std::string_view key);

// Reads the service key `key` into `manifest`; the problem (without the
// "malformed:" prefix) when its value is not acceptable. Cross-field checks are
// service_problem's.
std::optional<std::string> read_service_field(const std::string& key, const nlohmann::json& value, Manifest& manifest);

// Writes the service's fields that are set.
void write_service_fields(const Manifest& manifest, nlohmann::json& json);

// What is wrong with the service's fields as a whole (paths, sizes, counts,
// duplicates, rules), or nullopt.
std::optional<std::string> service_problem(const Manifest& manifest);

// Why `path` cannot be a manifest guest path, or nullopt: absolute, normalised
// (no ".", "..", "//" or trailing "/"), not "/", shorter than PATH_MAX.
std::optional<std::string> manifest_path_problem(std::string_view path);

// `hyperlet manifest --volume GUEST_PATH[:ro|:rw][:required|:optional]`
// (default rw, required).
Result<ManifestVolume> parse_manifest_volume(std::string_view text);

// `hyperlet manifest --file HOST_FILE:GUEST_PATH`: the host file read now.
Result<ManifestFile> read_manifest_file(std::string_view text);

}  // namespace hyperlet
