// What `hyperlet pack` writes besides the app itself: the OCI image config,
// manifest and index (image-spec v1.0), as JSON. Pure functions of the image's
// hyperlet manifest and the pack options, so the mapping is unit-tested without
// KVM or files. The layer bytes and digests come from image_layout.cpp.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "loader/manifest.h"

namespace hyperlet::oci {

// Annotation and label keys for what OCI has no field for. The runtime
// (hyperlet-runc) reads the same names from config.json's annotations.
inline constexpr char kMemoryAnnotation[] = "hyperlet.dev/memory";
inline constexpr char kAddressSpaceAnnotation[] = "hyperlet.dev/address-space";
inline constexpr char kPublishAnnotation[] = "hyperlet.dev/publish";
inline constexpr char kAllowConnectAnnotation[] = "hyperlet.dev/allow-connect";
inline constexpr char kAbiAnnotation[] = "hyperlet.dev/abi";

struct PackOptions {
  std::string reference;                   // the image's name, e.g. localhost/hello:latest
  std::string entrypoint;                  // the app's path inside the image, e.g. /hello
  std::vector<std::string> exposed_ports;  // PORT[/tcp|/udp]
  std::optional<std::string> workdir;      // absolute
  std::vector<std::string> volumes;        // absolute guest directories the app expects to be given
};

struct Blob {
  std::string media_type;
  std::string digest;  // sha256:<hex>
  std::uint64_t size = 0;
};

// "8080" → "8080/tcp"; "53/udp" stays; anything else is an error naming the value.
Result<std::string> normalize_port(const std::string& text);

// The reference as OCI tools expect it: a bare "hello" becomes
// "localhost/hello:latest" (podman's name for a local image), a name without a
// tag gets ":latest".
std::string normalize_reference(const std::string& text);

// The image config: Entrypoint is the app, Cmd the manifest's arguments, Env
// its environment; ExposedPorts (--port's and the guest ports the manifest
// publishes), Volumes (--volume's and the manifest's), WorkingDir (--workdir,
// else the manifest's) and hyperlet.dev/ labels. created is fixed (the epoch)
// so that packing twice gives one digest.
nlohmann::json image_config(const Manifest* manifest, const PackOptions& options, const std::string& layer_diff_id);

// The image manifest for one config and one gzip layer; annotations repeat
// the hyperlet.dev/ labels (registries and `skopeo inspect` show them).
nlohmann::json image_manifest(const Blob& config, const Blob& layer, const nlohmann::json& annotations);

// The hyperlet.dev/ annotations of an image: memory and ABI from the manifest,
// published ports from the pack options and the manifest.
nlohmann::json hyperlet_annotations(const Manifest* manifest, const PackOptions& options);

// index.json: one manifest, named by org.opencontainers.image.ref.name (podman,
// skopeo) and io.containerd.image.name (ctr images import).
nlohmann::json image_index(const Blob& manifest, const std::string& reference);

// Serialized as the blobs hold it: compact, keys sorted (nlohmann's default).
std::string canonical_json(const nlohmann::json& value);

}  // namespace hyperlet::oci
