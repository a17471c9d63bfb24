// `hyperlet pack IMAGE -o app.tar`: an OCI image layout tarball holding IMAGE
// as its entrypoint (oci/image_layout.h), for podman load, ctr images import,
// skopeo and umoci, and for hyperlet-runc to run.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace hyperlet {

struct PackCommandLine {
  std::string image_path;
  std::string output_path;
  std::string reference;
  std::vector<std::string> ports;
  std::vector<std::string> volumes;
  std::string workdir;
};

// The `pack` command, and its options (main() adds them only when they can be
// needed: named_command in cli/command_line.h).
CLI::App* add_pack_command(CLI::App& app);
void add_pack_options(CLI::App& pack, PackCommandLine& line);

// Checks IMAGE as `hyperlet run` would (a static x86-64 ELF) and writes the
// tarball; returns the image manifest's digest.
Result<std::string> pack_image(const PackCommandLine& line);

}  // namespace hyperlet
