#include "kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace hyperlet {
namespace {

// In C++ the flexible-array structs of Debian 12's linux/kvm.h have the wrong
// sizeof, so ioctl numbers derived from them carry the wrong size and KVM
// answers EINVAL. These are the numbers C computes.
constexpr std::size_t kCpuid2HeaderSize = 8;
constexpr std::size_t kMsrsHeaderSize = 8;
constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, kCpuid2HeaderSize);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, kCpuid2HeaderSize);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, kMsrsHeaderSize);
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, kMsrsHeaderSize);
constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, sizeof(XsaveArea));
constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, sizeof(XsaveArea));
static_assert(sizeof(XsaveArea) == 4096, "struct kvm_xsave's size in C");
static_assert(sizeof(kvm_cpuid_entry2) == 40);
static_assert(sizeof(kvm_msr_entry) == 16);

constexpr std::uint32_t kMaxCpuidEntries = 256;

std::string why() { return std::strerror(errno); }

// Header + entries laid out as the C structs.
template <typename Entry>
std::vector<std::uint8_t> flexible_buffer(std::uint32_t count, std::size_t header_size) {
  std::vector<std::uint8_t> buffer(header_size + count * sizeof(Entry));
  std::memcpy(buffer.data(), &count, sizeof(count));
  return buffer;
}

}  // namespace

Result<KvmSystem> KvmSystem::open() {
  KvmSystem kvm;
  kvm.fd_ = UniqueFd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm.fd_.valid()) {
    const int saved = errno;
    if (saved == ENOENT) {
      return fail(ExitStatus::kKvmUnavailable,
                  "cannot open /dev/kvm: it does not exist (load the kvm module, e.g. `modprobe "
                  "kvm_intel` or `modprobe kvm_amd`, or enable nested virtualization)");
    }
    if (saved == EACCES || saved == EPERM) {
      return fail(ExitStatus::kKvmUnavailable,
                  "cannot open /dev/kvm: permission denied (add yourself to the kvm group: `sudo "
                  "usermod -aG kvm $USER`, then log in again)");
    }
    return fail(ExitStatus::kKvmUnavailable, "cannot open /dev/kvm: {}", std::strerror(saved));
  }
  struct stat device {};
  if (::fstat(kvm.fd_.get(), &device) == 0 && !S_ISCHR(device.st_mode)) {
    // A script's `exec 3<>/dev/kvm` on a host without KVM leaves an empty regular file behind.
    return fail(ExitStatus::kKvmUnavailable,
                "/dev/kvm is not the KVM device but a {} (remove it; this host has no KVM module loaded)",
                S_ISREG(device.st_mode) ? "regular file" : "non-device file");
  }
  const int version = ::ioctl(kvm.fd_.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return fail(ExitStatus::kKvmUnavailable, "/dev/kvm speaks API version {}, expected {}", version, KVM_API_VERSION);
  }
  kvm.vcpu_mmap_size_ = ::ioctl(kvm.fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (kvm.vcpu_mmap_size_ < static_cast<int>(sizeof(kvm_run))) {
    return fail(ExitStatus::kKvmUnavailable, "KVM_GET_VCPU_MMAP_SIZE failed: {}", why());
  }
  return kvm;
}

Result<std::vector<kvm_cpuid_entry2>> KvmSystem::supported_cpuid() const {
  auto buffer = flexible_buffer<kvm_cpuid_entry2>(kMaxCpuidEntries, kCpuid2HeaderSize);
  if (::ioctl(fd_.get(), kGetSupportedCpuid, buffer.data()) != 0) {
    return fail(ExitStatus::kKvmUnavailable, "KVM_GET_SUPPORTED_CPUID failed: {}", why());
  }
  std::uint32_t count = 0;
  std::memcpy(&count, buffer.data(), sizeof(count));
  std::vector<kvm_cpuid_entry2> entries(count);
  std::memcpy(entries.data(), buffer.data() + kCpuid2HeaderSize, count * sizeof(kvm_cpuid_entry2));
  return entries;
}

Result<VmFd> VmFd::create(const KvmSystem& kvm) {
  VmFd vm;
  vm.fd_ = UniqueFd(::ioctl(kvm.fd(), KVM_CREATE_VM, 0));
  if (!vm.fd_.valid()) return fail(ExitStatus::kKvmUnavailable, "KVM_CREATE_VM failed: {}", why());
  return vm;
}

Result<void> VmFd::map_memory(std::uint64_t guest_address, void* host_address, std::uint64_t size,
                              bool log_dirty_pages) {
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.flags = log_dirty_pages ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  region.guest_phys_addr = guest_address;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<std::uint64_t>(host_address);
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_USER_MEMORY_REGION failed: {}", why());
  }
  return {};
}

Result<std::vector<std::uint64_t>> VmFd::dirty_pages(std::uint64_t size) {
  std::vector<std::uint64_t> bitmap((size / 4096 + 63) / 64, 0);
  kvm_dirty_log log{};
  log.slot = 0;
  log.dirty_bitmap = bitmap.data();
  if (::ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_GET_DIRTY_LOG failed: {}", why());
  }
  return bitmap;
}

bool VmFd::enable_manual_dirty_protection() {
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
  cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
  return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0 &&
         ::ioctl(fd_.get(), KVM_ENABLE_CAP, &cap) == 0;
}

Result<void> VmFd::protect_pages(std::span<const std::uint64_t> pages, std::uint64_t size) {
  const std::uint64_t page_count = size / 4096;
  if (pages.size() * 64 < page_count) {
    return fail(ExitStatus::kVmFailure, "protect_pages: a bitmap of {} pages for {} pages of memory", pages.size() * 64,
                page_count);
  }
  kvm_clear_dirty_log clear{};
  clear.slot = 0;
  clear.first_page = 0;
  clear.num_pages = static_cast<std::uint32_t>(page_count);       // the whole slot: KVM accepts any count that ends it
  clear.dirty_bitmap = const_cast<std::uint64_t*>(pages.data());  // NOLINT: KVM only reads it
  if (::ioctl(fd_.get(), KVM_CLEAR_DIRTY_LOG, &clear) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_CLEAR_DIRTY_LOG failed: {}", why());
  }
  return {};
}

Result<Vcpu> VmFd::create_vcpu(const KvmSystem& kvm, unsigned id) {
  Vcpu vcpu;
  vcpu.fd_ = UniqueFd(::ioctl(fd_.get(), KVM_CREATE_VCPU, id));
  if (!vcpu.fd_.valid()) return fail(ExitStatus::kVmFailure, "KVM_CREATE_VCPU failed: {}", why());
  const auto size = static_cast<std::size_t>(kvm.vcpu_mmap_size());
  void* run = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.fd_.get(), 0);
  if (run == MAP_FAILED) return fail(ExitStatus::kVmFailure, "mmap of kvm_run failed: {}", why());
  vcpu.run_ = Mapping(run, size);
  const int sync = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
  vcpu.sync_registers_ = sync > 0 ? sync : 0;
  return vcpu;
}

bool Vcpu::stage_registers(const kvm_regs& regs, const kvm_sregs& sregs, const kvm_vcpu_events& events) {
  constexpr int kNeeded = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
  if ((sync_registers_ & kNeeded) != kNeeded) return false;
  kvm_run* shared = run();
  shared->s.regs.regs = regs;
  shared->s.regs.sregs = sregs;
  shared->s.regs.events = events;
  shared->kvm_dirty_regs = kNeeded;
  return true;
}

Result<std::uint64_t> VmFd::clock() const {
  kvm_clock_data data{};
  if (::ioctl(fd_.get(), KVM_GET_CLOCK, &data) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_GET_CLOCK failed: {}", why());
  }
  return data.clock;
}

Result<void> Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  auto buffer = flexible_buffer<kvm_cpuid_entry2>(static_cast<std::uint32_t>(entries.size()), kCpuid2HeaderSize);
  std::memcpy(buffer.data() + kCpuid2HeaderSize, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  if (::ioctl(fd_.get(), kSetCpuid2, buffer.data()) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_CPUID2 failed: {}", why());
  }
  return {};
}

Result<void> Vcpu::set_msrs(const std::vector<kvm_msr_entry>& entries) {
  auto buffer = flexible_buffer<kvm_msr_entry>(static_cast<std::uint32_t>(entries.size()), kMsrsHeaderSize);
  std::memcpy(buffer.data() + kMsrsHeaderSize, entries.data(), entries.size() * sizeof(kvm_msr_entry));
  const int written = ::ioctl(fd_.get(), kSetMsrs, buffer.data());
  if (written != static_cast<int>(entries.size())) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_MSRS set {} of {} MSRs", written, entries.size());
  }
  return {};
}

Result<kvm_regs> Vcpu::regs() const {
  kvm_regs regs{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &regs) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_GET_REGS failed: {}", why());
  }
  return regs;
}

Result<void> Vcpu::set_regs(const kvm_regs& regs) {
  if (::ioctl(fd_.get(), KVM_SET_REGS, &regs) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_REGS failed: {}", why());
  }
  return {};
}

Result<kvm_sregs> Vcpu::sregs() const {
  kvm_sregs sregs{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &sregs) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_GET_SREGS failed: {}", why());
  }
  return sregs;
}

Result<void> Vcpu::set_sregs(const kvm_sregs& sregs) {
  if (::ioctl(fd_.get(), KVM_SET_SREGS, &sregs) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_SREGS failed: {}", why());
  }
  return {};
}

Result<std::vector<kvm_msr_entry>> Vcpu::msrs(const std::vector<std::uint32_t>& indices) const {
  auto buffer = flexible_buffer<kvm_msr_entry>(static_cast<std::uint32_t>(indices.size()), kMsrsHeaderSize);
  std::vector<kvm_msr_entry> entries(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) entries[i].index = indices[i];
  std::memcpy(buffer.data() + kMsrsHeaderSize, entries.data(), entries.size() * sizeof(kvm_msr_entry));
  const int read = ::ioctl(fd_.get(), kGetMsrs, buffer.data());
  if (read != static_cast<int>(entries.size())) {
    return fail(ExitStatus::kVmFailure, "KVM_GET_MSRS read {} of {} MSRs", read, entries.size());
  }
  std::memcpy(entries.data(), buffer.data() + kMsrsHeaderSize, entries.size() * sizeof(kvm_msr_entry));
  return entries;
}

Result<kvm_fpu> Vcpu::fpu() const {
  kvm_fpu fpu{};
  if (::ioctl(fd_.get(), KVM_GET_FPU, &fpu) != 0) return fail(ExitStatus::kVmFailure, "KVM_GET_FPU failed: {}", why());
  return fpu;
}

Result<void> Vcpu::set_fpu(const kvm_fpu& fpu) {
  if (::ioctl(fd_.get(), KVM_SET_FPU, &fpu) != 0) return fail(ExitStatus::kVmFailure, "KVM_SET_FPU failed: {}", why());
  return {};
}

Result<XsaveArea> Vcpu::xsave() const {
  XsaveArea area{};
  if (::ioctl(fd_.get(), kGetXsave, &area) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_GET_XSAVE failed: {}", why());
  }
  return area;
}

Result<void> Vcpu::set_xsave(const XsaveArea& area) {
  if (::ioctl(fd_.get(), kSetXsave, &area) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_XSAVE failed: {}", why());
  }
  return {};
}

Result<kvm_xcrs> Vcpu::xcrs() const {
  kvm_xcrs xcrs{};
  if (::ioctl(fd_.get(), KVM_GET_XCRS, &xcrs) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_GET_XCRS failed: {}", why());
  }
  return xcrs;
}

Result<void> Vcpu::set_xcrs(const kvm_xcrs& xcrs) {
  if (::ioctl(fd_.get(), KVM_SET_XCRS, &xcrs) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_XCRS failed: {}", why());
  }
  return {};
}

Result<void> Vcpu::set_xcr0(std::uint64_t value) {
  kvm_xcrs xcrs{};
  xcrs.nr_xcrs = 1;
  xcrs.xcrs[0].xcr = 0;
  xcrs.xcrs[0].value = value;
  return set_xcrs(xcrs);
}

Result<kvm_vcpu_events> Vcpu::events() const {
  kvm_vcpu_events events{};
  if (::ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &events) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_GET_VCPU_EVENTS failed: {}", why());
  }
  return events;
}

Result<void> Vcpu::set_events(const kvm_vcpu_events& events) {
  if (::ioctl(fd_.get(), KVM_SET_VCPU_EVENTS, &events) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_VCPU_EVENTS failed: {}", why());
  }
  return {};
}

Result<void> VmFd::set_clock(std::uint64_t nanoseconds) {
  kvm_clock_data data{};
  data.clock = nanoseconds;
  if (::ioctl(fd_.get(), KVM_SET_CLOCK, &data) != 0) {
    return fail(ExitStatus::kVmFailure, "KVM_SET_CLOCK failed: {}", why());
  }
  return {};
}

}  // namespace hyperlet
