// How many arguments each common x86-64 Linux syscall takes, so that --trace
// prints those and not whatever the other argument registers held.
#pragma once

#include <cstdint>
#include <optional>

namespace hyperlet {

std::optional<int> syscall_arity(std::uint64_t number);

}  // namespace hyperlet
