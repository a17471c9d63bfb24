// getrandom from the pool of host entropy in BootInfo. Each byte is handed out
// once and wiped; when the pool runs dry the request goes to the host.
#include "../boot_info.h"
#include "../errno.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kKnownFlags = 0x1 | 0x2 | 0x4;  // GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE
uint32_t pool_used;

}  // namespace

int64_t sys_getrandom(uint64_t buffer, uint64_t length, uint64_t flags, const uint64_t (&args)[6]) {
  if ((flags & ~kKnownFlags) != 0) return error(EINVAL);
  if (length > abi::kEntropyPoolSize - pool_used) return forward_to_host(__NR_getrandom, args);
  auto* out = user_pointer<uint8_t>(buffer, length);
  if (out == nullptr) return error(EFAULT);
  uint8_t* pool = boot_info().entropy + pool_used;
  for (uint64_t i = 0; i < length; ++i) {
    out[i] = pool[i];
    pool[i] = 0;
  }
  pool_used += static_cast<uint32_t>(length);
  return static_cast<int64_t>(length);
}

}  // namespace hyperlet::kernel
