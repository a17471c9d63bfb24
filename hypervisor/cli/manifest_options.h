// `hyperlet manifest`'s options for the service's fields (loader/manifest_service.h):
// each sets or unsets one field and leaves the rest of the manifest as it is.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "loader/manifest.h"

namespace hyperlet {

// The options as typed, before checking.
struct ManifestServiceLine {
  std::vector<std::string> volumes, unset_volumes;
  std::vector<std::string> publish, unset_publish;
  std::vector<std::string> allow_connect, unset_allow_connect;
  std::vector<std::string> files, unset_files;
  std::string cpus, workdir, hostname;
  bool unset_cpus = false, unset_workdir = false, unset_hostname = false;
};

void add_manifest_service_options(CLI::App& command, ManifestServiceLine& line);

// Into `changes`; a malformed value or a field both set and unset is ExitStatus::kUsage.
Result<void> read_manifest_service_options(const CLI::App& command, const ManifestServiceLine& line,
                                           ManifestChanges& changes);

}  // namespace hyperlet
