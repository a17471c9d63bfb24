// Says it is ready through the raw hyperlet syscall (no guest library), then
// reports what the GuestInfo auxv entry tells it. Natively: ready=-1, in_vm=0.
#include <sys/auxv.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

#include <hyperlet/abi.h>

int main() {
  const long ready = syscall(static_cast<long>(hyperlet::abi::kSyscallReady));
  const auto* info = reinterpret_cast<const hyperlet::abi::GuestInfo*>(getauxval(hyperlet::abi::kAuxvGuestInfo));
  std::printf("ready=%ld in_vm=%d\n", ready, info != nullptr ? 1 : 0);
  if (info != nullptr) {
    std::printf("abi=%u memory=%lluM ordered=%d\n", info->abi_version,
                static_cast<unsigned long long>(info->memory_size >> 20),
                info->launched_ns <= info->vm_created_ns && info->vm_created_ns <= info->image_loaded_ns ? 1 : 0);
  }
  std::puts("after ready");
  return 0;
}
