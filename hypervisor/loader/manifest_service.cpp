#include "loader/manifest_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/run_names.h"
#include "devices/network_policy.h"
#include "devices/volumes.h"
#include "loader/base64.h"

namespace hyperlet {
namespace {

std::optional<std::string> read_strings(const std::string& key, const nlohmann::json& value,
                                        std::vector<std::string>& out) {
  if (!value.is_array()) return fmt::format("\"{}\" is not an array of strings", key);
  if (value.size() > kManifestMaxEntries) {
    return fmt::format("\"{}\" has {} entries, at most {}", key, value.size(), kManifestMaxEntries);
  }
  for (const auto& item : value) {
    if (!item.is_string()) return fmt::format("\"{}\" holds a non-string", key);
    out.push_back(item.get<std::string>());
  }
  return std::nullopt;
}

std::optional<std::string> read_volume(const nlohmann::json& item, ManifestVolume& volume) {
  if (!item.is_object()) return "\"volumes\" holds a non-object";
  for (const auto& [key, value] : item.items()) {
    if (key == "path" && value.is_string()) {
      volume.path = value.get<std::string>();
    } else if (key == "mode" && value.is_string() && (value == "ro" || value == "rw")) {
      volume.read_only = value == "ro";
    } else if (key == "required" && value.is_boolean()) {
      volume.required = value.get<bool>();
    } else {
      return fmt::format(
          "\"volumes\" entry has a bad or unknown \"{}\" (path: string, mode: \"ro\" or \"rw\", "
          "required: true or false)",
          key);
    }
  }
  if (!item.contains("path")) return "a \"volumes\" entry has no \"path\"";
  return std::nullopt;
}

std::optional<std::string> read_file(const nlohmann::json& item, ManifestFile& file) {
  if (!item.is_object()) return "\"files\" holds a non-object";
  for (const auto& [key, value] : item.items()) {
    if (key == "path" && value.is_string()) {
      file.path = value.get<std::string>();
    } else if (key == "base64" && value.is_string()) {
      // Bounded before decoding: the decoded size is 3/4 of the text's.
      if (value.get_ref<const std::string&>().size() > (kManifestMaxFileSize + 2) / 3 * 4) {
        return fmt::format("a \"files\" entry is larger than {} KiB", kManifestMaxFileSize >> 10);
      }
      auto content = base64_decode(value.get<std::string>());
      if (!content) return "a \"files\" entry's \"base64\" is not base64";
      file.content = std::move(*content);
    } else {
      return fmt::format("\"files\" entry has a bad or unknown \"{}\" (path: string, base64: string)", key);
    }
  }
  if (!item.contains("path") || !item.contains("base64")) return "a \"files\" entry needs \"path\" and \"base64\"";
  return std::nullopt;
}

// HOST:PORT or ADDR/PREFIX:PORT, judged without resolving HOST (that happens at `run`).
std::optional<std::string> connect_rule_problem(std::string_view rule) {
  if (rule.empty() || rule.size() > kManifestMaxRuleLength) return "empty or too long";
  const bool plain = std::all_of(rule.begin(), rule.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-.:/[]*_").find(c) != std::string_view::npos;
  });
  if (!plain) return "has characters no host, address or port has";
  const std::size_t colon = rule.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return "expected HOST:PORT or ADDR/PREFIX:PORT";
  const std::string_view port = rule.substr(colon + 1);
  if (port != "*" && (port.empty() || port.size() > 5 ||
                      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))) {
    return "the PORT is not a number or *";
  }
  return std::nullopt;
}

}  // namespace

bool is_service_key(std::string_view key) {
  return key == "volumes" || key == "publish" || key == "allow_connect" || key == "cpus" || key == "workdir" ||
         key == "hostname" || key == "files";
}

std::optional<std::string> read_service_field(const std::string& key, const nlohmann::json& value, Manifest& manifest) {
  if (key == "publish") return read_strings(key, value, manifest.publish);
  if (key == "allow_connect") return read_strings(key, value, manifest.allow_connect);
  if (key == "cpus") {
    if (!value.is_number_unsigned() || value.get<std::uint64_t>() == 0 ||
        value.get<std::uint64_t>() > kManifestMaxCpus) {
      return fmt::format("\"cpus\" is not a number from 1 to {}", kManifestMaxCpus);
    }
    manifest.cpus = value.get<std::uint32_t>();
    return std::nullopt;
  }
  if (key == "workdir" || key == "hostname") {
    if (!value.is_string()) return fmt::format("\"{}\" is not a string", key);
    (key == "workdir" ? manifest.workdir : manifest.hostname) = value.get<std::string>();
    return std::nullopt;
  }
  if (!value.is_array()) return fmt::format("\"{}\" is not an array of objects", key);
  if (value.size() > kManifestMaxEntries) {
    return fmt::format("\"{}\" has {} entries, at most {}", key, value.size(), kManifestMaxEntries);
  }
  for (const auto& item : value) {
    if (key == "volumes") {
      ManifestVolume volume;
      if (auto problem = read_volume(item, volume)) return problem;
      manifest.volumes.push_back(std::move(volume));
    } else {
      ManifestFile file;
      if (auto problem = read_file(item, file)) return problem;
      manifest.files.push_back(std::move(file));
    }
  }
  return std::nullopt;
}

void write_service_fields(const Manifest& manifest, nlohmann::json& json) {
  if (!manifest.volumes.empty()) {
    nlohmann::json volumes = nlohmann::json::array();
    for (const ManifestVolume& volume : manifest.volumes) {
      volumes.push_back(
          {{"path", volume.path}, {"mode", volume.read_only ? "ro" : "rw"}, {"required", volume.required}});
    }
    json["volumes"] = volumes;
  }
  if (!manifest.publish.empty()) json["publish"] = manifest.publish;
  if (!manifest.allow_connect.empty()) json["allow_connect"] = manifest.allow_connect;
  if (manifest.cpus) json["cpus"] = *manifest.cpus;
  if (manifest.workdir) json["workdir"] = *manifest.workdir;
  if (manifest.hostname) json["hostname"] = *manifest.hostname;
  if (!manifest.files.empty()) {
    nlohmann::json files = nlohmann::json::array();
    for (const ManifestFile& file : manifest.files) {
      files.push_back({{"path", file.path}, {"base64", base64_encode(file.content)}});
    }
    json["files"] = files;
  }
}

std::optional<std::string> manifest_path_problem(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) return "holds a NUL";
  if (!path.starts_with('/')) return "is not absolute";
  if (path == "/") return "is /";
  auto normal = normalize_guest_path("/", path);
  if (!normal) return "is too long";
  if (*normal != path) return fmt::format("is not normalised (write {})", *normal);
  return std::nullopt;
}

std::optional<std::string> service_problem(const Manifest& manifest) {
  for (const auto* list : {&manifest.publish, &manifest.allow_connect}) {
    if (list->size() > kManifestMaxEntries) return fmt::format("more than {} rules", kManifestMaxEntries);
  }
  if (manifest.volumes.size() > kManifestMaxEntries || manifest.files.size() > kManifestMaxEntries) {
    return fmt::format("more than {} volumes or files", kManifestMaxEntries);
  }
  std::set<std::string> paths;
  for (const ManifestVolume& volume : manifest.volumes) {
    if (auto problem = manifest_path_problem(volume.path)) return fmt::format("volume '{}' {}", volume.path, *problem);
    if (!paths.insert(volume.path).second) return fmt::format("volume {} is declared twice", volume.path);
  }
  std::size_t total = 0;
  for (const ManifestFile& file : manifest.files) {
    if (auto problem = manifest_path_problem(file.path)) return fmt::format("file '{}' {}", file.path, *problem);
    if (!paths.insert(file.path).second) return fmt::format("{} is declared twice (as a volume or a file)", file.path);
    if (file.content.size() > kManifestMaxFileSize) {
      return fmt::format("file {} is larger than {} KiB", file.path, kManifestMaxFileSize >> 10);
    }
    total += file.content.size();
  }
  if (total > kManifestMaxFilesTotal) {
    return fmt::format("the files hold more than {} KiB together", kManifestMaxFilesTotal >> 10);
  }
  for (const std::string& rule : manifest.publish) {
    if (rule.size() > kManifestMaxRuleLength) return "a \"publish\" rule is too long";
    auto parsed = parse_publish_rule(rule);
    if (!parsed) return parsed.error().message;
  }
  for (const std::string& rule : manifest.allow_connect) {
    if (auto problem = connect_rule_problem(rule)) return fmt::format("allow-connect rule '{}': {}", rule, *problem);
  }
  if (manifest.cpus && (*manifest.cpus == 0 || *manifest.cpus > kManifestMaxCpus)) {
    return fmt::format("cpus {} is not from 1 to {}", *manifest.cpus, kManifestMaxCpus);
  }
  if (manifest.workdir && *manifest.workdir != "/") {
    if (auto problem = manifest_path_problem(*manifest.workdir)) {
      return fmt::format("workdir '{}' {}", *manifest.workdir, *problem);
    }
  }
  if (manifest.hostname) {
    if (auto problem = hostname_problem(*manifest.hostname)) {
      return fmt::format("hostname '{}': {}", *manifest.hostname, *problem);
    }
  }
  return std::nullopt;
}

Result<ManifestVolume> parse_manifest_volume(std::string_view text) {
  auto bad = [&](std::string_view why) -> Result<ManifestVolume> {
    return fail(ExitStatus::kUsage, "invalid --volume '{}': {} (expected GUEST_PATH[:ro|:rw][:required|:optional])",
                text, why);
  };
  ManifestVolume volume;
  std::string_view rest = text;
  const std::size_t colon = rest.find(':');
  volume.path = std::string(rest.substr(0, colon));
  rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
  bool mode_seen = false, need_seen = false;
  while (!rest.empty() || colon != std::string_view::npos) {
    const std::size_t next = rest.find(':');
    const std::string_view word = rest.substr(0, next);
    if ((word == "ro" || word == "rw") && !mode_seen) {
      volume.read_only = word == "ro";
      mode_seen = true;
    } else if ((word == "required" || word == "optional") && !need_seen) {
      volume.required = word == "required";
      need_seen = true;
    } else {
      return bad(fmt::format("unknown or repeated '{}'", word));
    }
    if (next == std::string_view::npos) break;
    rest = rest.substr(next + 1);
  }
  if (auto problem = manifest_path_problem(volume.path)) return bad(fmt::format("the guest path {}", *problem));
  return volume;
}

Result<ManifestFile> read_manifest_file(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(ExitStatus::kUsage, "invalid --file '{}': expected HOST_FILE:GUEST_PATH", text);
  }
  ManifestFile file;
  file.path = std::string(text.substr(colon + 1));
  if (auto problem = manifest_path_problem(file.path)) {
    return fail(ExitStatus::kUsage, "invalid --file '{}': the guest path {}", text, *problem);
  }
  const std::string host(text.substr(0, colon));
  std::error_code error;
  if (!std::filesystem::is_regular_file(host, error)) {
    return fail(ExitStatus::kUsage, "invalid --file '{}': {} is not a regular file", text, host);
  }
  std::ifstream in(host, std::ios::binary);
  std::ostringstream bytes;
  if (in) bytes << in.rdbuf();
  if (!in) return fail(ExitStatus::kUsage, "invalid --file '{}': cannot read {}", text, host);
  file.content = bytes.str();
  if (file.content.size() > kManifestMaxFileSize) {
    return fail(ExitStatus::kUsage, "invalid --file '{}': {} is larger than {} KiB", text, host,
                kManifestMaxFileSize >> 10);
  }
  return file;
}

}  // namespace hyperlet
