#include "vm/syscall_entry_probe.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>

#include "arch/descriptor_tables.h"
#include "core/mapping.h"

namespace hyperlet {
namespace {

// The probe VM's memory, identity-mapped with 4 KiB pages (user-accessible:
// ring 3 runs from it; ring 0 has no SMEP/SMAP here).
constexpr std::uint64_t kProbeMemory = 0x10000;
constexpr std::uint64_t kPml4 = 0x1000;  // then the PDPT, PD and PT pages
constexpr std::uint64_t kGdt = 0x5000;
constexpr std::uint64_t kIdt = 0x6000;
constexpr std::uint64_t kTss = 0x7000;
constexpr std::uint64_t kUserProbe = 0x8000;
constexpr std::uint64_t kLstarHandler = 0x8080;
constexpr std::uint64_t kFaultHandler = 0x8100;
constexpr std::uint64_t kKernelStart = 0x8200;
constexpr std::uint64_t kUserStackTop = 0xe000;
constexpr std::uint64_t kKernelStackTop = 0xf000;
constexpr std::uint16_t kKernelCode = 0x08, kKernelData = 0x10, kUserData = 0x18 | 3, kUserCode = 0x20 | 3,
                        kTssSelector = 0x28;
constexpr std::uint16_t kGdtLimit = 7 * 8 - 1;
constexpr std::uint16_t kExceptionVectors = 32;
// The LSTAR handler `out`s its CS here; any exception's handler `out`s to the next port.
constexpr std::uint16_t kReachedPort = 0x7f0;
constexpr std::uint16_t kFaultPort = 0x7f1;

// Ring 0 at start: iretq to ring 3 at kUserProbe, as the guest kernel enters the app.
constexpr std::array<std::uint8_t, 18> kKernelStartCode{
    0x6a, kUserData,                    // push $user_data      (ss)
    0x68, 0x00,      0xe0, 0x00, 0x00,  // push $0xe000         (rsp)
    0x6a, 0x02,                         // push $2              (rflags)
    0x6a, kUserCode,                    // push $user_code      (cs)
    0x68, 0x00,      0x80, 0x00, 0x00,  // push $0x8000         (rip)
    0x48, 0xcf,                         // iretq
};
// Ring 3: the instruction under test; hlt faults (#GP) should it ever return.
constexpr std::array<std::uint8_t, 3> kUserProbeCode{0x0f, 0x05, 0xf4};  // syscall; hlt
// LSTAR: report CS (its RPL is the CPL) on kReachedPort. In ring 3 the `out`
// itself faults (IOPL 0, no I/O bitmap) and the fault handler answers instead.
constexpr std::array<std::uint8_t, 8> kLstarCode{
    0x8c, 0xc8,              // mov %cs, %eax
    0x66, 0xba, 0xf0, 0x07,  // mov $0x7f0, %dx
    0xef,                    // out %eax, (%dx)
    0xf4,                    // hlt
};
constexpr std::array<std::uint8_t, 6> kFaultCode{
    0x66, 0xba, 0xf1, 0x07,  // mov $0x7f1, %dx
    0xef,                    // out %eax, (%dx)
    0xf4,                    // hlt
};

constexpr std::uint32_t kMsrStar = 0xc0000081;
constexpr std::uint32_t kMsrLstar = 0xc0000082;
constexpr std::uint32_t kMsrSyscallMask = 0xc0000084;

kvm_segment segment(std::uint16_t selector, bool code, int privilege) {
  kvm_segment s{};
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = code ? 0xb : 0x3;
  s.present = 1;
  s.dpl = static_cast<std::uint8_t>(privilege);
  s.db = code ? 0 : 1;
  s.s = 1;
  s.l = code ? 1 : 0;
  s.g = 1;
  return s;
}

template <typename T>
void put(std::byte* memory, std::uint64_t address, const T& value) {
  std::memcpy(memory + address, &value, sizeof value);
}

void write_probe_guest(std::byte* memory) {
  constexpr std::uint64_t kTableFlags = 0x7;  // present, writable, user
  put(memory, kPml4, (kPml4 + 0x1000) | kTableFlags);
  put(memory, kPml4 + 0x1000, (kPml4 + 0x2000) | kTableFlags);
  put(memory, kPml4 + 0x2000, (kPml4 + 0x3000) | kTableFlags);
  for (std::uint64_t page = 0; page < kProbeMemory / 0x1000; ++page) {
    put(memory, kPml4 + 0x3000 + page * 8, (page * 0x1000) | kTableFlags);
  }

  const std::uint64_t tss_low = 103 | (kTss & 0xffffff) << 16 | 0x89ull << 40 | ((kTss >> 24) & 0xff) << 56;
  const std::array<std::uint64_t, 7> gdt{0,
                                         code_segment_descriptor(0),
                                         data_segment_descriptor(0),
                                         data_segment_descriptor(3),
                                         code_segment_descriptor(3),
                                         tss_low,
                                         kTss >> 32};
  put(memory, kGdt, gdt);
  for (std::uint16_t vector = 0; vector < kExceptionVectors; ++vector) {
    put(memory, kIdt + vector * 16u, interrupt_gate(kFaultHandler, 0, 0));
  }
  put(memory, kTss + 4, kKernelStackTop);                    // rsp0
  put(memory, kTss + 102, static_cast<std::uint16_t>(104));  // no I/O bitmap

  std::memcpy(memory + kKernelStart, kKernelStartCode.data(), kKernelStartCode.size());
  std::memcpy(memory + kUserProbe, kUserProbeCode.data(), kUserProbeCode.size());
  std::memcpy(memory + kLstarHandler, kLstarCode.data(), kLstarCode.size());
  std::memcpy(memory + kFaultHandler, kFaultCode.data(), kFaultCode.size());
}

Result<void> setup_probe_vcpu(Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid) {
  if (auto ok = vcpu.set_cpuid(cpuid); !ok) return ok;
  auto sregs = vcpu.sregs();
  if (!sregs) return std::unexpected(sregs.error());
  sregs->cr0 = 0x80000031;  // PG, NE, ET, PE
  sregs->cr3 = kPml4;
  sregs->cr4 = 1u << 5;  // PAE
  sregs->efer = 0x501;   // LMA, LME, SCE
  sregs->cs = segment(kKernelCode, true, 0);
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = segment(kKernelData, false, 0);
  kvm_segment tss{};
  tss.base = kTss;
  tss.limit = 103;
  tss.selector = kTssSelector;
  tss.type = 0xb;  // 64-bit TSS, busy
  tss.present = 1;
  sregs->tr = tss;
  sregs->gdt.base = kGdt;
  sregs->gdt.limit = kGdtLimit;
  sregs->idt.base = kIdt;
  sregs->idt.limit = kExceptionVectors * 16 - 1;
  if (auto ok = vcpu.set_sregs(*sregs); !ok) return ok;
  const std::uint64_t star = static_cast<std::uint64_t>(kUserData - 8) << 48 | std::uint64_t{kKernelCode} << 32;
  if (auto ok = vcpu.set_msrs({{kMsrStar, 0, star}, {kMsrLstar, 0, kLstarHandler}, {kMsrSyscallMask, 0, 0x47700}});
      !ok) {
    return ok;
  }
  kvm_regs regs{};
  regs.rip = kKernelStart;
  regs.rsp = kKernelStackTop;
  regs.rflags = 0x2;
  return vcpu.set_regs(regs);
}

}  // namespace

std::optional<SyscallEntry> probe_syscall_entry(const KvmSystem& kvm, const std::vector<kvm_cpuid_entry2>& cpuid) {
  void* address = ::mmap(nullptr, kProbeMemory, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (address == MAP_FAILED) return std::nullopt;
  const Mapping memory(address, kProbeMemory);
  write_probe_guest(memory.data());
  auto vm = VmFd::create(kvm);
  if (!vm || !vm->map_memory(0, memory.data(), kProbeMemory)) return std::nullopt;
  auto vcpu = vm->create_vcpu(kvm);
  if (!vcpu || !setup_probe_vcpu(*vcpu, cpuid)) return std::nullopt;
  // Every path ends in an `out` or a `hlt` in ring 0: one KVM_RUN answers.
  if (::ioctl(vcpu->fd(), KVM_RUN, 0) != 0) return std::nullopt;
  const kvm_run& run = *vcpu->run();
  if (run.exit_reason == KVM_EXIT_IO && run.io.port == kReachedPort && run.io.direction == KVM_EXIT_IO_OUT) {
    std::uint32_t cs = 0;
    std::memcpy(&cs, reinterpret_cast<const std::byte*>(&run) + run.io.data_offset, sizeof cs);
    if ((cs & 3) == 0) return SyscallEntry::kSyscall;
  }
  return SyscallEntry::kTrap;
}

std::filesystem::path syscall_entry_cache_path(const std::filesystem::path& directory, const std::string& key) {
  return directory / fmt::format("syscall-entry-{:016x}", std::hash<std::string>{}(key));
}

std::optional<SyscallEntry> load_cached_syscall_entry(const std::filesystem::path& path, const std::string& key) {
  std::ifstream in(path);
  std::string stored_key, answer, rest;
  if (!in || !std::getline(in, stored_key) || stored_key != key || !std::getline(in, answer)) return std::nullopt;
  if (std::getline(in, rest) && !rest.empty()) return std::nullopt;
  if (answer == "syscall") return SyscallEntry::kSyscall;
  if (answer == "trap") return SyscallEntry::kTrap;
  return std::nullopt;
}

void store_cached_syscall_entry(const std::filesystem::path& path, const std::string& key, SyscallEntry entry) {
  if (entry == SyscallEntry::kAuto) return;
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  const auto temporary = path.string() + fmt::format(".{}.tmp", ::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << key << '\n' << (entry == SyscallEntry::kSyscall ? "syscall" : "trap") << '\n';
    if (!out) {
      std::filesystem::remove(temporary, error);
      return;
    }
  }
  std::filesystem::rename(temporary, path, error);
  if (error) std::filesystem::remove(temporary, error);
}

SyscallEntry resolve_syscall_entry(SyscallEntry requested, const KvmSystem& kvm,
                                   const std::vector<kvm_cpuid_entry2>& cpuid,
                                   const std::optional<std::filesystem::path>& directory,
                                   const std::optional<std::string>& key) {
  if (requested != SyscallEntry::kAuto) return requested;
  const std::optional<std::filesystem::path> path =
      directory && key ? std::optional(syscall_entry_cache_path(*directory, "syscall-entry " + *key)) : std::nullopt;
  if (path) {
    if (auto cached = load_cached_syscall_entry(*path, "syscall-entry " + *key)) return *cached;
  }
  const std::optional<SyscallEntry> probed = probe_syscall_entry(kvm, cpuid);
  if (!probed) return SyscallEntry::kTrap;  // works on every KVM, only slower
  if (path) store_cached_syscall_entry(*path, "syscall-entry " + *key, *probed);
  return *probed;
}

}  // namespace hyperlet
