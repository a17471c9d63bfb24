// Process-wide state the app asks about or sets: FS base, limits, uname, exit.
#include <asm/prctl.h>
#include <linux/resource.h>
#include <linux/utsname.h>

#include "../msr.h"
#include "../boot_info.h"
#include "../errno.h"
#include "../hypercall.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kOpenFilesLimit = 1024;


void copy_string(char* dest, const char* text) {
  while ((*dest++ = *text++) != '\0') {
  }
}

// At most `size` - 1 characters and the NUL.
void copy_bounded(char* dest, const char* text, uint32_t size) {
  uint32_t i = 0;
  for (; i + 1 < size && text[i] != '\0'; ++i) dest[i] = text[i];
  dest[i] = '\0';
}

}  // namespace

int64_t sys_arch_prctl(uint64_t code, uint64_t address) {
  switch (code) {
    case ARCH_SET_FS:
    case ARCH_SET_GS:
      if (!segment_base_ok(address)) return error(EPERM);
      write_msr(code == ARCH_SET_FS ? kMsrFsBase : kMsrGsBase, address);
      return 0;
    case ARCH_GET_FS:
    case ARCH_GET_GS: {
      auto* out = user_pointer<uint64_t>(address);
      if (out == nullptr) return error(EFAULT);
      *out = read_msr(code == ARCH_GET_FS ? kMsrFsBase : kMsrGsBase);
      return 0;
    }
    default:
      return error(EINVAL);
  }
}

int64_t sys_prlimit64(uint64_t pid, uint64_t resource, uint64_t new_limit, uint64_t old_limit) {
  if (pid != 0 && pid != 1) return error(ESRCH);
  if (resource >= RLIM_NLIMITS) return error(EINVAL);
  if (new_limit != 0 && user_pointer<rlimit64>(new_limit) == nullptr) return error(EFAULT);
  if (old_limit != 0) {
    auto* out = user_pointer<rlimit64>(old_limit);
    if (out == nullptr) return error(EFAULT);
    uint64_t value = RLIM64_INFINITY;
    const abi::BootInfo& info = boot_info();
    if (resource == RLIMIT_STACK) value = info.stack_top - info.stack_bottom;
    if (resource == RLIMIT_NOFILE) value = kOpenFilesLimit;
    if (resource == RLIMIT_AS || resource == RLIMIT_DATA) value = info.memory_size;
    out->rlim_cur = value;
    out->rlim_max = value;
  }
  return 0;  // new limits are accepted and not enforced beyond guest memory itself
}

int64_t sys_uname(uint64_t buffer) {
  auto* name = user_pointer<new_utsname>(buffer);
  if (name == nullptr) return error(EFAULT);
  copy_string(name->sysname, "Linux");
  // A zero first byte is the default. Bounded by the field, not by its NUL alone:
  // the nodename must never run past its 65 bytes, whatever BootInfo holds.
  const char* hostname = boot_info().hostname;
  if (hostname[0] == '\0') {
    copy_string(name->nodename, "hyperlet");
  } else {
    copy_bounded(name->nodename, hostname, abi::kHostnameMax);
  }
  copy_string(name->release, "6.1.0-hyperlet");
  copy_string(name->version, "#1 hyperlet microVM");
  copy_string(name->machine, "x86_64");
  copy_string(name->domainname, "(none)");
  return 0;
}

void sys_exit_group(uint64_t status) {
  hypercall_exit(static_cast<int64_t>(status & 0xff));
}

}  // namespace hyperlet::kernel
