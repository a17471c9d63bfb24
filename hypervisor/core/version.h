// hyperlet's version for --version lines: the release (<hyperlet/guest.h>) and
// the git commit it was built from, when it was built from a git checkout.
#pragma once

#include <string>
#include <string_view>

namespace hyperlet {

// "0.1.0 (commit 0123456789ab)", or "0.1.0" when the commit is unknown;
// `more` goes in the same parentheses: "0.1.0 (commit 0123456789ab, guest ABI 1)".
std::string version_text(std::string_view more = {});

}  // namespace hyperlet
