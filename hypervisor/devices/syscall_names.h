#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hyperlet {

// "write" for 1; "syscall_999" for numbers Linux does not define.
std::string syscall_name(std::uint64_t number);

// The number of a Linux syscall by its name ("accept4" -> 288), if there is one.
std::optional<std::uint64_t> syscall_number(std::string_view name);

}  // namespace hyperlet
