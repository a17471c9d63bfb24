// The guest library: the app's side of <hyperlet/guest.h>. It is compiled like
// the app (hosted, with the app's compiler and libc), not like the guest kernel.
#include "hyperlet/guest.h"

#include <sys/auxv.h>
#include <unistd.h>

#include <cerrno>

#include "hyperlet/abi.h"

namespace hyperlet {
namespace {

// The address of the VM's abi::GuestInfo, or nullptr natively: Linux never
// puts kAuxvGuestInfo into the auxiliary vector, so getauxval answers 0.
const abi::GuestInfo* raw_guest_info() noexcept {
  // getauxval sets errno to ENOENT for a missing entry; callers asked nothing
  // that should change errno, so keep theirs.
  const int saved_errno = errno;
  const unsigned long address = getauxval(abi::kAuxvGuestInfo);
  errno = saved_errno;
  // The guest kernel identity-maps guest memory, so the guest address is usable as is.
  return reinterpret_cast<const abi::GuestInfo*>(address);
}

std::chrono::steady_clock::time_point monotonic(std::uint64_t ns) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

bool in_microvm() noexcept { return raw_guest_info() != nullptr; }

std::optional<GuestInfo> guest_info() noexcept {
  const abi::GuestInfo* info = raw_guest_info();
  // Version 0 would be a page the host announced but never filled in.
  if (info == nullptr || info->abi_version == 0) return std::nullopt;
  return GuestInfo{
      .memory_size = info->memory_size,
      .launched = monotonic(info->launched_ns),
      .vm_created = monotonic(info->vm_created_ns),
      .image_loaded = monotonic(info->image_loaded_ns),
  };
}

bool ready() noexcept {
  // Natively, do not make the syscall at all: Linux would answer ENOSYS, but a
  // container's seccomp filter may answer EPERM or even kill the process for a
  // syscall number it does not know.
  if (!in_microvm()) return false;
  // `mov $kSyscallReady, %eax; syscall` as it stands, so that the loader makes it
  // a direct syscall (abi::is_direct_syscall): a snapshot taken here then
  // resumes in ring 3, not inside the guest kernel (glibc's syscall() keeps the
  // number in a register the loader cannot see).
  long result = 0;
  asm volatile("mov %1, %%eax\n\tsyscall" : "=a"(result) : "i"(abi::kSyscallReady) : "rcx", "r11", "memory");
  return result == 0;
}

}  // namespace hyperlet
