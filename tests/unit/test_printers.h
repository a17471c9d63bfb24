// gtest printers for hyperlet types, so failed assertions read "kBadImage (126)"
// instead of raw bytes. Found by argument-dependent lookup.
#pragma once

#include <ostream>

#include "core/exit_status.h"

namespace hyperlet {

inline void PrintTo(ExitStatus status, std::ostream* out) {
  *out << "ExitStatus " << to_int(status);
  for (const auto& entry : kExitStatusTable) {
    if (entry.status == status) *out << " (" << entry.meaning << ")";
  }
}

}  // namespace hyperlet
