#include "devices/content_cache.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdlib>
#include <fstream>
#include <system_error>

namespace hyperlet {
namespace {

namespace fs = std::filesystem;

std::optional<fs::path> cache_directory(const std::string& kind) {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return fs::path(xdg) / "hyperlet" / kind;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return fs::path(home) / ".cache" / "hyperlet" / kind;
  }
  return std::nullopt;
}

}  // namespace

std::optional<fs::path> content_addressed_directory(const std::string& kind,
                                                    const std::map<std::string, std::string>& files) {
  const auto base = cache_directory(kind);
  if (!base) return std::nullopt;
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const auto& [name, content] : files) {
    XXH3_64bits_update(state, name.data(), name.size() + 1);  // the NUL separates name and content
    const std::uint64_t size = content.size();
    XXH3_64bits_update(state, &size, sizeof size);
    XXH3_64bits_update(state, content.data(), content.size());
  }
  const std::uint64_t digest = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  const fs::path final_path = *base / fmt::format("{:016x}", digest);
  std::error_code error;
  if (fs::is_directory(final_path, error)) return final_path;
  fs::create_directories(*base, error);
  const fs::path temporary = *base / fmt::format(".{:016x}.{}", digest, ::getpid());
  fs::remove_all(temporary, error);
  if (!fs::create_directory(temporary, error)) return std::nullopt;
  for (const auto& [name, content] : files) {
    std::ofstream out(temporary / name, std::ios::binary);
    out << content;
    if (!out) {
      fs::remove_all(temporary, error);
      return std::nullopt;
    }
    out.close();
    ::chmod((temporary / name).c_str(), 0444);
  }
  ::chmod(temporary.c_str(), 0555);
  fs::rename(temporary, final_path, error);
  if (error) {
    ::chmod(temporary.c_str(), 0755);
    fs::remove_all(temporary, error);  // another run put the same content in place first
  }
  return fs::is_directory(final_path, error) ? std::optional(final_path) : std::nullopt;
}

}  // namespace hyperlet
