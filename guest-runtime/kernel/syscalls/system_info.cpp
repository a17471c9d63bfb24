// sysinfo and CPU affinity: what the app learns of the machine is the VM's.
// Its CPUs are its vCPUs (--cpus): glibc's get_nprocs and sysconf count them
// here when /sys and /proc are absent, as they are, and thread pools are
// sized by it. Its memory is its budget (--memory), so that _SC_PHYS_PAGES and
// caches sized by it fit the VM. Load averages, swap and high memory are 0.
#include <linux/sysinfo.h>

#include "../boot_info.h"
#include "../errno.h"
#include "../smp.h"
#include "../time.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

// Linux's cpumask_size() for at most 64 CPUs: one unsigned long.
constexpr uint64_t kMaskBytes = 8;

uint64_t vcpu_mask() { return cpu_count >= 64 ? ~uint64_t{0} : (uint64_t{1} << cpu_count) - 1; }

// pid 0, the process or one of its threads; anything else is another process (ESRCH).
bool names_this_process(uint64_t pid) { return pid == 0 || pid == process_id() || thread_slot_of(pid) >= 0; }

}  // namespace

int64_t sys_sysinfo(uint64_t out) {
  auto* info = user_pointer<struct sysinfo>(out);
  if (info == nullptr) return error(EFAULT);
  struct sysinfo answer {};
  const int64_t now = monotonic_ns();
  answer.uptime = now > 0 ? now / 1'000'000'000 : 0;
  const MemoryUse memory = memory_use();
  answer.totalram = memory.total;
  answer.freeram = memory.total - memory.used;
  answer.procs = static_cast<uint16_t>(thread_slots_in_use());
  answer.mem_unit = 1;
  *info = answer;
  return 0;
}

int64_t sys_sched_getaffinity(uint64_t pid, uint64_t size, uint64_t mask) {
  if (!names_this_process(pid)) return error(ESRCH);
  if (size < kMaskBytes || (size & (sizeof(uint64_t) - 1)) != 0) return error(EINVAL);
  auto* words = user_pointer<uint64_t>(mask);
  if (words == nullptr) return error(EFAULT);
  *words = vcpu_mask();
  return static_cast<int64_t>(kMaskBytes);
}

int64_t sys_sched_setaffinity(uint64_t pid, uint64_t size, uint64_t mask) {
  if (!names_this_process(pid)) return error(ESRCH);
  if (size == 0) return error(EINVAL);
  const uint64_t bytes = size < kMaskBytes ? size : kMaskBytes;
  const auto* first = user_pointer<uint8_t>(mask);
  if (first == nullptr || !user_range_ok(mask, bytes)) return error(EFAULT);
  uint64_t wanted = 0;
  for (uint64_t i = 0; i < bytes; ++i) wanted |= static_cast<uint64_t>(first[i]) << (8 * i);
  // Linux refuses a mask with none of the online CPUs; any other is kept as a
  // wish (a thread runs on whichever vCPU is free).
  return (wanted & vcpu_mask()) != 0 ? 0 : error(EINVAL);
}

}  // namespace hyperlet::kernel
