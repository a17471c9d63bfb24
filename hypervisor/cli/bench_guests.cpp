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
// Long mode: code at 0x1000, then the page tables, the GDT and the TSS.
constexpr std::size_t kLongModeMemorySize = 0x10000;
constexpr std::uint64_t kPml4 = 0x2000;
constexpr std::uint64_t kPdpt = 0x3000;
constexpr std::uint64_t kPageDirectory = 0x4000;
constexpr std::uint64_t kGdt = 0x5000;
constexpr std::uint64_t kTss = 0x6000;

std::unexpected<Error> ioctl_failed(const char* what) {
  return fail(ExitStatus::kVmFailure, "raw KVM guest: {}: {}", what, std::strerror(errno));
}

// Assembled by GNU as from (intel syntax), with the loop counts as imm32 at the
// offsets below:
//   sub rsp,64 ; clock_gettime(CLOCK_MONOTONIC, rsp)
//   mov ebx,N ; 1: getppid ; dec ebx ; jnz 1b ; clock_gettime(.., rsp+16)
//   mov ebx,N ; 2: mov eax,72 ; mov edi,1 ; mov esi,1 ; syscall ; dec ebx ; jnz 2b
//   clock_gettime(.., rsp+32)
//   mov ebx,N ; 3: mov edi,1 ; mov esi,1 ; mov eax,72 ; syscall ; dec ebx ; jnz 3b
//   clock_gettime(.., rsp+48) ; write(1, rsp, 64) ; exit_group(0) ; hlt
// Loops 2 and 3 are both fcntl(1, F_GETFD); with the number moved right before
// the `syscall`, the loader makes loop 3's a direct syscall (abi.h), loop 2's the trap.
constexpr std::array<std::uint8_t, 0xa8> kHypercallGuestCode = {
    0x48, 0x83, 0xec, 0x40, 0xb8, 0xe4, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x89, 0xe6, 0x0f, 0x05,
    0xbb, 0x00, 0x00, 0x00, 0x00, 0xb8, 0x6e, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xff, 0xcb, 0x75, 0xf5, 0xb8, 0xe4, 0x00,
    0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x74, 0x24, 0x10, 0x0f, 0x05, 0xbb, 0x00, 0x00, 0x00, 0x00,
    0xb8, 0x48, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0xbe, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xff, 0xcb,
    0x75, 0xeb, 0xb8, 0xe4, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x74, 0x24, 0x20, 0x0f, 0x05,
    0xbb, 0x00, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0xbe, 0x01, 0x00, 0x00, 0x00, 0xb8, 0x48, 0x00, 0x00,
    0x00, 0x0f, 0x05, 0xff, 0xcb, 0x75, 0xeb, 0xb8, 0xe4, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d,
    0x74, 0x24, 0x30, 0x0f, 0x05, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x89, 0xe6, 0xba,
    0x40, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x31, 0xff, 0x0f, 0x05, 0xf4,
};
constexpr std::array<std::size_t, 3> kCallCountOffsets = {0x14, 0x35, 0x60};
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

Result<RawKvmGuest> RawKvmGuest::create(std::span<const std::uint8_t> code, Mode mode) {
  RawKvmGuest guest;
  auto kvm = KvmSystem::open();
  if (!kvm) return std::unexpected(kvm.error());
  guest.kvm_ = std::move(*kvm);
  auto vm = VmFd::create(guest.kvm_);
  if (!vm) return std::unexpected(vm.error());
  guest.vm_ = std::move(*vm);
  // Real mode: one page at 0x1000, as kvm_floor.c. Long mode: 64 KiB from 0
  // for the code at 0x1000, the page tables and the GDT.
  const bool long_mode = mode != Mode::kRealMode;
  const std::uint64_t base = long_mode ? 0 : kRawGuestAddress;
  const std::size_t size = long_mode ? kLongModeMemorySize : kRawGuestSize;
  void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return ioctl_failed("mmap guest memory");
  guest.memory_ = Mapping(memory, size);
  std::memcpy(guest.memory_.data() + (kRawGuestAddress - base), code.data(), std::min(code.size(), kRawGuestSize));
  if (auto ok = guest.vm_.map_memory(base, memory, size); !ok) return std::unexpected(ok.error());
  auto vcpu = guest.vm_.create_vcpu(guest.kvm_);
  if (!vcpu) return std::unexpected(vcpu.error());
  guest.vcpu_ = std::move(*vcpu);
  if (long_mode) {
    if (auto ok = guest.enter_long_mode(mode == Mode::kLongModeRing3); !ok) return std::unexpected(ok.error());
  } else {
    auto sregs = guest.vcpu_.sregs();
    if (!sregs) return std::unexpected(sregs.error());
    sregs->cs.base = 0;
    sregs->cs.selector = 0;
    if (auto ok = guest.vcpu_.set_sregs(*sregs); !ok) return std::unexpected(ok.error());
  }
  kvm_regs regs{};
  regs.rip = kRawGuestAddress;
  regs.rax = kRawGuestValue;
  regs.rsp = kRawGuestAddress;  // unused: the code pushes nothing
  // Ring 3 may make its `out` only with IOPL 3 (otherwise #GP).
  regs.rflags = mode == Mode::kLongModeRing3 ? 0x3002 : 0x2;
  if (auto ok = guest.vcpu_.set_regs(regs); !ok) return std::unexpected(ok.error());
  return guest;
}

// Identity-mapped first 2 MiB (one large user page), a GDT with 64-bit code and
// data segments for ring 0 and ring 3, CR0/CR4/EFER as hyperlet's
// vcpu_setup.cpp sets them. KVM accepts EFER.LME only with a CPUID that has
// long mode, so the vCPU gets KVM's supported CPUID first.
Result<void> RawKvmGuest::enter_long_mode(bool ring3) {
  auto cpuid = kvm_.supported_cpuid();
  if (!cpuid) return std::unexpected(cpuid.error());
  if (auto ok = vcpu_.set_cpuid(*cpuid); !ok) return ok;
  auto* bytes = memory_.data();
  const auto put = [&](std::uint64_t address, std::uint64_t value) { std::memcpy(bytes + address, &value, 8); };
  constexpr std::uint64_t kPresentWritableUser = 0x7;
  constexpr std::uint64_t kLargePage = 0x80;
  put(kPml4, kPdpt | kPresentWritableUser);
  put(kPdpt, kPageDirectory | kPresentWritableUser);
  put(kPageDirectory, 0 | kPresentWritableUser | kLargePage);
  put(kGdt + 8, 0x00af9b000000ffff);   // 64-bit code, DPL 0
  put(kGdt + 16, 0x00cf93000000ffff);  // data, DPL 0
  put(kGdt + 24, 0x00affb000000ffff);  // 64-bit code, DPL 3
  put(kGdt + 32, 0x00cff3000000ffff);  // data, DPL 3

  auto sregs = vcpu_.sregs();
  if (!sregs) return std::unexpected(sregs.error());
  kvm_segment code{};
  code.limit = 0xffffffff;
  code.selector = 8;
  code.type = 0xb;
  code.present = 1;
  code.s = 1;
  code.l = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = 16;
  data.type = 0x3;
  data.l = 0;
  data.db = 1;
  if (ring3) {
    code.selector = 24 | 3;
    code.dpl = 3;
    data.selector = 32 | 3;
    data.dpl = 3;
  }
  sregs->cs = code;
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
  kvm_segment tss{};
  tss.base = kTss;
  tss.limit = 0x67;
  tss.selector = 40;
  tss.type = 0xb;  // 64-bit TSS, busy
  tss.present = 1;
  sregs->tr = tss;
  sregs->gdt.base = kGdt;
  sregs->gdt.limit = 8 * 6 - 1;
  sregs->cr0 = 0x80050033;  // PG | AM | WP | NE | ET | MP | PE
  sregs->cr3 = kPml4;
  sregs->cr4 = 0x620;   // OSXMMEXCPT | OSFXSR | PAE
  sregs->efer = 0x500;  // LMA | LME
  return vcpu_.set_sregs(*sregs);
}

Result<void> RawKvmGuest::run_to_port_write() {
  if (::ioctl(vcpu_.fd(), KVM_RUN, 0) < 0) return ioctl_failed("KVM_RUN");
  const kvm_run* run = vcpu_.run();
  if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT || run->io.port != kRawGuestPort ||
      run->io.size != 1) {
    return fail(ExitStatus::kVmFailure, "raw KVM guest: exit reason {} was not the guest's out to port {:#x}",
                run->exit_reason, kRawGuestPort);
  }
  const auto value = *(reinterpret_cast<const std::uint8_t*>(run) + run->io.data_offset);
  if (value != kRawGuestValue) {
    return fail(ExitStatus::kVmFailure, "raw KVM guest wrote {} instead of {}", value, kRawGuestValue);
  }
  return {};
}

Result<void> run_kvm_floor_once() {
  auto guest = RawKvmGuest::create(RawKvmGuest::floor_code(), RawKvmGuest::Mode::kRealMode);
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
  std::array<timespec, 4> times{};
  static_assert(sizeof(times) == 64);
  if (output.size() != sizeof(times) || calls == 0) {
    return fail(ExitStatus::kUsage, "hypercall guest printed {} bytes, expected {}", output.size(), sizeof(times));
  }
  std::memcpy(times.data(), output.data(), sizeof(times));
  auto ns = [](const timespec& t) { return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec); };
  const double per_call = static_cast<double>(calls);
  HypercallGuestTimes result{(ns(times[1]) - ns(times[0])) / per_call, (ns(times[2]) - ns(times[1])) / per_call,
                             (ns(times[3]) - ns(times[2])) / per_call};
  if (result.guest_answered_ns < 0 || result.forwarded_ns < 0 || result.direct_ns < 0) {
    return fail(ExitStatus::kUsage, "hypercall guest's clock went backwards");
  }
  return result;
}

}  // namespace hyperlet::bench
