#include "core/version.h"

#include <fmt/format.h>
#include <hyperlet/guest.h>

#include <string_view>

#include "build_info.h"  // generated: HYPERLET_GIT_COMMIT

namespace hyperlet {

std::string version_text(std::string_view more) {
  constexpr std::string_view commit = HYPERLET_GIT_COMMIT;
  std::string details = commit.empty() ? std::string() : fmt::format("commit {}", commit);
  if (!more.empty()) details += details.empty() ? std::string(more) : fmt::format(", {}", more);
  if (details.empty()) return HYPERLET_VERSION_STRING;
  return fmt::format("{} ({})", HYPERLET_VERSION_STRING, details);
}

}  // namespace hyperlet
