#include "oci/image_config.h"

#include <algorithm>
#include <charconv>

#include "devices/network_policy.h"

namespace hyperlet::oci {

namespace {

constexpr char kEpoch[] = "1970-01-01T00:00:00Z";

}  // namespace

Result<std::string> normalize_port(const std::string& text) {
  const auto slash = text.find('/');
  const std::string number = text.substr(0, slash);
  const std::string protocol = slash == std::string::npos ? "tcp" : text.substr(slash + 1);
  unsigned port = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), port);
  if (number.empty() || error != std::errc{} || end != number.data() + number.size() || port == 0 || port > 65535) {
    return fail(ExitStatus::kUsage, "invalid --port '{}': expected PORT[/tcp|/udp] with PORT 1-65535", text);
  }
  if (protocol != "tcp" && protocol != "udp") {
    return fail(ExitStatus::kUsage, "invalid --port '{}': the protocol must be tcp or udp", text);
  }
  return fmt::format("{}/{}", port, protocol);
}

std::string normalize_reference(const std::string& text) {
  std::string reference = text;
  // A registry host has a '.' or ':' or is localhost, as docker's reference grammar reads it.
  const auto first_slash = reference.find('/');
  const std::string first = reference.substr(0, first_slash);
  const bool has_host =
      first_slash != std::string::npos &&
      (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost");
  if (!has_host) reference = "localhost/" + reference;
  const auto last_slash = reference.rfind('/');
  if (reference.find(':', last_slash) == std::string::npos && reference.find('@') == std::string::npos) {
    reference += ":latest";
  }
  return reference;
}

namespace {

// The image's ports: --port's, then the guest ports the manifest publishes (the
// port the app binds is the image's; the host side is the runtime's choice).
std::vector<std::string> image_ports(const Manifest* manifest, const PackOptions& options) {
  std::vector<std::string> ports = options.exposed_ports;
  if (manifest != nullptr) {
    for (const std::string& text : manifest->publish) {
      auto rule = parse_publish_rule(text);
      if (!rule) continue;  // checked when the manifest was written; an unreadable rule has no port to show
      ports.push_back(fmt::format("{}/{}", rule->guest_port, transport_name(rule->transport)));
    }
  }
  std::vector<std::string> unique;
  for (const std::string& port : ports) {
    if (std::find(unique.begin(), unique.end(), port) == unique.end()) unique.push_back(port);
  }
  return unique;
}

// The directories the app expects to be given: --volume's and the manifest's.
std::vector<std::string> image_volumes(const Manifest* manifest, const PackOptions& options) {
  std::vector<std::string> volumes = options.volumes;
  if (manifest != nullptr) {
    for (const ManifestVolume& volume : manifest->volumes) {
      if (std::find(volumes.begin(), volumes.end(), volume.path) == volumes.end()) volumes.push_back(volume.path);
    }
  }
  return volumes;
}

}  // namespace

nlohmann::json hyperlet_annotations(const Manifest* manifest, const PackOptions& options) {
  nlohmann::json annotations = nlohmann::json::object();
  if (manifest != nullptr) {
    annotations[kAbiAnnotation] = std::to_string(manifest->abi);
    if (manifest->memory_size) annotations[kMemoryAnnotation] = manifest->memory_text;
    if (manifest->address_space) annotations[kAddressSpaceAnnotation] = manifest->address_space_text;
  }
  // The ports as the runtime's annotation takes them (GUEST_PORT bound in the
  // pod's own network namespace), so the value can be copied as it is.
  std::string publish;
  for (const std::string& port : image_ports(manifest, options)) {
    const auto slash = port.find('/');
    const std::string number = port.substr(0, slash);
    publish += fmt::format("{}{}:{}{}", publish.empty() ? "" : ",", number, number, port.substr(slash));
  }
  if (!publish.empty()) annotations[kPublishAnnotation] = publish;
  return annotations;
}

nlohmann::json image_config(const Manifest* manifest, const PackOptions& options, const std::string& layer_diff_id) {
  nlohmann::json config = nlohmann::json::object();
  config["Entrypoint"] = nlohmann::json::array({options.entrypoint});
  if (manifest != nullptr && manifest->arguments) config["Cmd"] = *manifest->arguments;
  if (manifest != nullptr && !manifest->environment.empty()) config["Env"] = manifest->environment;
  if (const auto ports = image_ports(manifest, options); !ports.empty()) {
    nlohmann::json exposed = nlohmann::json::object();
    for (const std::string& port : ports) exposed[port] = nlohmann::json::object();
    config["ExposedPorts"] = exposed;
  }
  if (const auto volumes = image_volumes(manifest, options); !volumes.empty()) {
    nlohmann::json declared = nlohmann::json::object();
    for (const std::string& volume : volumes) declared[volume] = nlohmann::json::object();
    config["Volumes"] = declared;
  }
  if (options.workdir) {
    config["WorkingDir"] = *options.workdir;
  } else if (manifest != nullptr && manifest->workdir) {
    config["WorkingDir"] = *manifest->workdir;
  }
  // SIGTERM is what hyperlet stops the app on (exit status 143); say it, so
  // `podman stop` and the kubelet send it first.
  config["StopSignal"] = "SIGTERM";
  const nlohmann::json labels = hyperlet_annotations(manifest, options);
  if (!labels.empty()) config["Labels"] = labels;
  return {
      {"created", kEpoch},
      {"architecture", "amd64"},
      {"os", "linux"},
      {"config", config},
      {"rootfs", {{"type", "layers"}, {"diff_ids", nlohmann::json::array({layer_diff_id})}}},
      {"history", nlohmann::json::array({{{"created", kEpoch}, {"created_by", "hyperlet pack"}}})},
  };
}

nlohmann::json image_manifest(const Blob& config, const Blob& layer, const nlohmann::json& annotations) {
  nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config", {{"mediaType", config.media_type}, {"digest", config.digest}, {"size", config.size}}},
      {"layers",
       nlohmann::json::array({{{"mediaType", layer.media_type}, {"digest", layer.digest}, {"size", layer.size}}})},
  };
  if (!annotations.empty()) manifest["annotations"] = annotations;
  return manifest;
}

nlohmann::json image_index(const Blob& manifest, const std::string& reference) {
  return {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.index.v1+json"},
      {"manifests",
       nlohmann::json::array({{
           {"mediaType", manifest.media_type},
           {"digest", manifest.digest},
           {"size", manifest.size},
           {"platform", {{"architecture", "amd64"}, {"os", "linux"}}},
           {"annotations", {{"org.opencontainers.image.ref.name", reference}, {"io.containerd.image.name", reference}}},
       }})},
  };
}

std::string canonical_json(const nlohmann::json& value) { return value.dump(); }

}  // namespace hyperlet::oci
