#pragma once

#include <cstdint>
#include <string>

namespace hyperlet {

// "write" for 1; "syscall_999" for numbers Linux does not define.
std::string syscall_name(std::uint64_t number);

}  // namespace hyperlet
