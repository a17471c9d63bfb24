// Read-only directories of files kept by content under hyperlet's cache
// ($XDG_CACHE_HOME/hyperlet/<kind>/<hash>, else ~/.cache/...): written once, in
// a temporary directory renamed into place (a concurrent run never sees one half
// written), then only read, and shared by every run with the same content. The
// synthesized /etc and the files an image ships are served from them.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace hyperlet {

// The directory holding exactly `files` (name → content; names are plain file
// names); nullopt when there is no cache directory or it cannot be written.
std::optional<std::filesystem::path> content_addressed_directory(const std::string& kind,
                                                                 const std::map<std::string, std::string>& files);

}  // namespace hyperlet
