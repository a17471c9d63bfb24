// Linux errno values as negative syscall results.
#pragma once

#include <asm-generic/errno.h>
#include <stdint.h>

namespace hyperlet::kernel {

constexpr int64_t error(int code) { return -static_cast<int64_t>(code); }

}  // namespace hyperlet::kernel
