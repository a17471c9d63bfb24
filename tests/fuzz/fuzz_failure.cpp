#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_target.h"

namespace hyperlet::fuzz {

void fuzz_failure(std::string_view what) {
  std::fprintf(stderr, "fuzz target: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace hyperlet::fuzz
