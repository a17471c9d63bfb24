#include "cli/pack.h"

#include <fstream>
#include <iterator>
#include <sstream>

#include "loader/app_image.h"
#include "oci/image_layout.h"

namespace hyperlet {

CLI::App* add_pack_command(CLI::App& app) {
  return app.add_subcommand(
      "pack",
      "Package IMAGE as an OCI image layout tarball: one layer holding IMAGE as the entrypoint, the manifest's "
      "arguments, environment and memory in the image config. `podman load`, `ctr images import`, skopeo and "
      "umoci read it; hyperlet-runc runs it (and runc runs the same binary natively). Prints the manifest's "
      "digest; packing the same IMAGE with the same options gives the same bytes");
}

void add_pack_options(CLI::App& pack, PackCommandLine& line) {
  pack.add_option("IMAGE", line.image_path, "The static program to package (as `hyperlet run` takes it)")->required();
  pack.add_option("-o,--output", line.output_path, "The tarball to write (replaced atomically)")
      ->required()
      ->type_name("FILE");
  pack.add_option("--name", line.reference,
                  "The image's name in index.json (org.opencontainers.image.ref.name and io.containerd.image.name): "
                  "a bare NAME becomes localhost/NAME:latest. Default: IMAGE's file name")
      ->type_name("NAME[:TAG]");
  pack.add_option("--port", line.ports,
                  "A port the app serves on, PORT[/tcp|/udp] (repeatable), besides the guest ports the manifest "
                  "publishes: the config's ExposedPorts, and the hyperlet.dev/publish label with PORT:PORT, the "
                  "value hyperlet-runc's annotation takes")
      ->allow_extra_args(false);
  pack.add_option("--volume", line.volumes,
                  "A guest directory the app expects a volume at (repeatable), besides the manifest's volumes: "
                  "the config's Volumes")
      ->type_name("GUEST_DIR")
      ->allow_extra_args(false);
  pack.add_option("--workdir", line.workdir, "The config's WorkingDir, an absolute path (default: the manifest's)")
      ->type_name("DIR");
}

Result<std::string> pack_image(const PackCommandLine& line) {
  // The same checks as `hyperlet run`: a missing file is 127, anything not a static x86-64 ELF 126.
  auto image = AppImage::open(line.image_path);
  if (!image) {
    Error error = image.error();
    if (error.message.starts_with("cannot run ")) error.message.replace(0, 10, "cannot pack");
    return std::unexpected(error);
  }
  std::ifstream file(line.image_path, std::ios::binary);
  std::string contents{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (!file.good() && !file.eof()) return fail(ExitStatus::kBadImage, "cannot read {}", line.image_path);

  const std::string file_name = line.image_path.substr(line.image_path.rfind('/') + 1);
  oci::PackOptions options;
  options.entrypoint = "/" + file_name;
  options.reference = oci::normalize_reference(line.reference.empty() ? file_name : line.reference);
  for (const std::string& text : line.ports) {
    auto port = oci::normalize_port(text);
    if (!port) return std::unexpected(port.error());
    options.exposed_ports.push_back(*port);
  }
  for (const std::string& volume : line.volumes) {
    if (!volume.starts_with('/')) return fail(ExitStatus::kUsage, "invalid --volume '{}': must be absolute", volume);
    options.volumes.push_back(volume);
  }
  if (!line.workdir.empty()) {
    if (!line.workdir.starts_with('/')) {
      return fail(ExitStatus::kUsage, "invalid --workdir '{}': must be absolute", line.workdir);
    }
    options.workdir = line.workdir;
  }
  const auto& notes = image->notes();
  const Manifest* manifest = notes.manifest ? &*notes.manifest : nullptr;
  return oci::write_image_archive(line.output_path, manifest, options, {{file_name, std::move(contents), 0755}});
}

}  // namespace hyperlet
