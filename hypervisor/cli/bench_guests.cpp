#include "cli/bench_guests.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace hyperlet::bench {

namespace {

constexpr std::uint64_t kRawGuestAddress = 0x1000;
constexpr std::size_t kRawGuestSize = 0x1000;

std::unexpected<Error> ioctl_failed(const char* what) {
  return fail(ExitStatus::kVmFailure, "raw KVM guest: {}: {}", what, std::strerror(errno));
}

// Assembled by GNU as from (intel syntax), with the loop counts as imm32 at the
// offsets below:
//   sub rsp,64 ; clock_gettime(CLOCK_MONOTONIC, rsp)
//   mov ebx,N ; 1: getppid ; dec ebx ; jnz 1b ; clock_gettime(.., rsp+16)
//   mov ebx,N ; 2: fcntl(1, F_GETFD) ; dec ebx ; jnz 2b ; clock_gettime(.., rsp+32)
//   write(1, rsp, 48) ; exit_group(0) ; hlt
constexpr std::array<std::uint8_t, 0x7d> kHypercallGuestCode = {
    0x48, 0x83, 0xec, 0x40, 0xb8, 0xe4, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x89, 0xe6, 0x0f,
    0x05, 0xbb, 0x00, 0x00, 0x00, 0x00, 0xb8, 0x6e, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xff, 0xcb, 0x75, 0xf5, 0xb8,
    0xe4, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x74, 0x24, 0x10, 0x0f, 0x05, 0xbb, 0x00,
    0x00, 0x00, 0x00, 0xb8, 0x48, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0xbe, 0x01, 0x00, 0x00, 0x00,
    0x0f, 0x05, 0xff, 0xcb, 0x75, 0xeb, 0xb8, 0xe4, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d,
    0x74, 0x24, 0x20, 0x0f, 0x05, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x89, 0xe6,
    0xba, 0x30, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x31, 0xff, 0x0f, 0x05, 0xf4,
};
constexpr std::array<std::size_t, 2> kCallCountOffsets = {0x14, 0x35};
constexpr std::uint64_t kElfBase = 0x400000;

}  // namespace

std::span<const std::uint8_t> RawKvmGuest::floor_code() {
  static constexpr std::array<std::uint8_t, 3> code = {0xe6, kRawGuestPort, 0xf4};
  return code;
}

std::span<const std::uint8_t> RawKvmGuest::exit_loop_code() {
  static constexpr std::array<std::uint8_t, 4> code = {0xe6, kRawGuestPort, 0xeb, 0xfc};
  return code;
}

Result<RawKvmGuest> RawKvmGuest::create(std::span<const std::uint8_t> code) {
  RawKvmGuest guest;
  guest.kvm_ = UniqueFd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!guest.kvm_.valid()) {
    return fail(ExitStatus::kKvmUnavailable, "raw KVM guest: open /dev/kvm: {}", std::strerror(errno));
  }
  if (::ioctl(guest.kvm_.get(), KVM_GET_API_VERSION, 0) != KVM_API_VERSION) return ioctl_failed("KVM_GET_API_VERSION");
  guest.vm_ = UniqueFd(::ioctl(guest.kvm_.get(), KVM_CREATE_VM, 0UL));
  if (!guest.vm_.valid()) return ioctl_failed("KVM_CREATE_VM");
  void* memory = ::mmap(nullptr, kRawGuestSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return ioctl_failed("mmap guest memory");
  guest.memory_ = Mapping(memory, kRawGuestSize);
  std::memcpy(memory, code.data(), std::min(code.size(), kRawGuestSize));
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = kRawGuestAddress;
  region.memory_size = kRawGuestSize;
  region.userspace_addr = reinterpret_cast<std::uint64_t>(memory);
  if (::ioctl(guest.vm_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
    return ioctl_failed("KVM_SET_USER_MEMORY_REGION");
  guest.vcpu_ = UniqueFd(::ioctl(guest.vm_.get(), KVM_CREATE_VCPU, 0UL));
  if (!guest.vcpu_.valid()) return ioctl_failed("KVM_CREATE_VCPU");
  const int run_size = ::ioctl(guest.kvm_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < static_cast<int>(sizeof(kvm_run))) return ioctl_failed("KVM_GET_VCPU_MMAP_SIZE");
  void* run =
      ::mmap(nullptr, static_cast<std::size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, guest.vcpu_.get(), 0);
  if (run == MAP_FAILED) return ioctl_failed("mmap kvm_run");
  guest.run_area_ = Mapping(run, static_cast<std::size_t>(run_size));
  kvm_sregs sregs{};
  if (::ioctl(guest.vcpu_.get(), KVM_GET_SREGS, &sregs) < 0) return ioctl_failed("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (::ioctl(guest.vcpu_.get(), KVM_SET_SREGS, &sregs) < 0) return ioctl_failed("KVM_SET_SREGS");
  kvm_regs regs{};
  regs.rip = kRawGuestAddress;
  regs.rax = kRawGuestValue;
  regs.rflags = 0x2;
  if (::ioctl(guest.vcpu_.get(), KVM_SET_REGS, &regs) < 0) return ioctl_failed("KVM_SET_REGS");
  return guest;
}

Result<void> RawKvmGuest::run_to_port_write() {
  if (::ioctl(vcpu_.get(), KVM_RUN, 0) < 0) return ioctl_failed("KVM_RUN");
  const auto* run = reinterpret_cast<const kvm_run*>(run_area_.data());
  if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT || run->io.port != kRawGuestPort ||
      run->io.size != 1) {
    return fail(ExitStatus::kVmFailure, "raw KVM guest: exit reason {} was not the guest's out to port {:#x}",
                run->exit_reason, kRawGuestPort);
  }
  const auto value = *(reinterpret_cast<const std::uint8_t*>(run) + run->io.data_offset);
  if (value != kRawGuestValue)
    return fail(ExitStatus::kVmFailure, "raw KVM guest wrote {} instead of {}", value, kRawGuestValue);
  return {};
}

RawKvmGuest::~RawKvmGuest() = default;

Result<void> run_kvm_floor_once() {
  auto guest = RawKvmGuest::create(RawKvmGuest::floor_code());
  if (!guest) return std::unexpected(guest.error());
  return guest->run_to_port_write();
}

std::vector<std::uint8_t> hypercall_guest_elf(std::uint32_t calls) {
  Elf64_Ehdr header{};
  std::memcpy(header.e_ident, ELFMAG, SELFMAG);
  header.e_ident[EI_CLASS] = ELFCLASS64;
  header.e_ident[EI_DATA] = ELFDATA2LSB;
  header.e_ident[EI_VERSION] = EV_CURRENT;
  header.e_ident[EI_OSABI] = ELFOSABI_SYSV;
  header.e_type = ET_EXEC;
  header.e_machine = EM_X86_64;
  header.e_version = EV_CURRENT;
  header.e_phoff = sizeof(Elf64_Ehdr);
  header.e_ehsize = sizeof(Elf64_Ehdr);
  header.e_phentsize = sizeof(Elf64_Phdr);
  header.e_phnum = 1;
  // The code on a page of its own, the only executable bytes: the loader's
  // scan for `syscall` sites decodes executable segments from their start, and
  // must not decode the headers as instructions.
  constexpr std::size_t code_offset = 0x1000;
  header.e_entry = kElfBase + code_offset;
  Elf64_Phdr segment{};
  segment.p_type = PT_LOAD;
  segment.p_flags = PF_R | PF_X;
  segment.p_offset = code_offset;
  segment.p_vaddr = kElfBase + code_offset;
  segment.p_paddr = segment.p_vaddr;
  segment.p_filesz = kHypercallGuestCode.size();
  segment.p_memsz = segment.p_filesz;
  segment.p_align = 0x1000;

  std::vector<std::uint8_t> bytes(code_offset + kHypercallGuestCode.size());
  std::memcpy(bytes.data(), &header, sizeof header);
  std::memcpy(bytes.data() + sizeof header, &segment, sizeof segment);
  std::memcpy(bytes.data() + code_offset, kHypercallGuestCode.data(), kHypercallGuestCode.size());
  for (std::size_t offset : kCallCountOffsets) std::memcpy(bytes.data() + code_offset + offset, &calls, sizeof calls);
  return bytes;
}

Result<HypercallGuestTimes> parse_hypercall_guest_output(std::span<const std::uint8_t> output, std::uint32_t calls) {
  std::array<timespec, 3> times{};
  static_assert(sizeof(times) == 48);
  if (output.size() != sizeof(times) || calls == 0) {
    return fail(ExitStatus::kUsage, "hypercall guest printed {} bytes, expected {}", output.size(), sizeof(times));
  }
  std::memcpy(times.data(), output.data(), sizeof(times));
  auto ns = [](const timespec& t) { return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec); };
  const double per_call = static_cast<double>(calls);
  HypercallGuestTimes result{(ns(times[1]) - ns(times[0])) / per_call, (ns(times[2]) - ns(times[1])) / per_call};
  if (result.guest_answered_ns < 0 || result.forwarded_ns < 0) {
    return fail(ExitStatus::kUsage, "hypercall guest's clock went backwards");
  }
  return result;
}

}  // namespace hyperlet::bench
