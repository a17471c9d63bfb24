#include "devices/shipped_files.h"

#include <map>

#include "devices/content_cache.h"
#include "devices/synthesized_etc.h"

namespace hyperlet {

Result<std::vector<VolumeSpec>> shipped_file_volumes(const std::vector<ManifestFile>& files,
                                                     const std::vector<VolumeSpec>& volumes) {
  std::map<std::string, std::string> contents;  // by position: guest paths are no file names
  std::vector<const ManifestFile*> shipped;
  for (const ManifestFile& file : files) {
    if (volume_covers(volumes, file.path)) continue;  // the command line wins
    contents[std::to_string(shipped.size())] = file.content;
    shipped.push_back(&file);
  }
  std::vector<VolumeSpec> added;
  if (shipped.empty()) return added;
  const auto directory = content_addressed_directory("files", contents);
  if (!directory) {
    return fail(ExitStatus::kUsage,
                "cannot give the app the files its image ships ({} first): no cache directory to write them in "
                "($XDG_CACHE_HOME or $HOME)",
                shipped.front()->path);
  }
  for (std::size_t i = 0; i < shipped.size(); ++i) {
    VolumeSpec spec;
    spec.host_dir = (*directory / std::to_string(i)).string();
    spec.guest_dir = shipped[i]->path;
    spec.read_only = true;
    spec.mode_given = true;
    added.push_back(std::move(spec));
  }
  return added;
}

}  // namespace hyperlet
