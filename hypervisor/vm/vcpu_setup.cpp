#include "vm/vcpu_setup.h"

#include "arch/cpuid.h"
#include "arch/descriptor_tables.h"

namespace hyperlet {
namespace {

constexpr std::uint64_t kCr0ProtectedMode = 1ull << 0;
constexpr std::uint64_t kCr0MonitorCoprocessor = 1ull << 1;
constexpr std::uint64_t kCr0ExtensionType = 1ull << 4;
constexpr std::uint64_t kCr0NumericError = 1ull << 5;
constexpr std::uint64_t kCr0WriteProtect = 1ull << 16;
constexpr std::uint64_t kCr0AlignmentMask = 1ull << 18;
constexpr std::uint64_t kCr0Paging = 1ull << 31;
constexpr std::uint64_t kCr4Pae = 1ull << 5;
constexpr std::uint64_t kCr4Osfxsr = 1ull << 9;
constexpr std::uint64_t kCr4Osxmmexcpt = 1ull << 10;
constexpr std::uint64_t kCr4Osxsave = 1ull << 18;
constexpr std::uint64_t kEferSyscall = 1ull << 0;
constexpr std::uint64_t kEferLongModeEnable = 1ull << 8;
constexpr std::uint64_t kEferLongModeActive = 1ull << 10;

constexpr std::uint32_t kMsrStar = 0xc0000081;
constexpr std::uint32_t kMsrLstar = 0xc0000082;
constexpr std::uint32_t kMsrSyscallMask = 0xc0000084;
// TF, DF, IF, IOPL, NT, AC: what Linux clears on syscall entry.
constexpr std::uint64_t kSyscallFlagMask = 0x47700;

kvm_segment segment(std::uint16_t selector, bool code, int privilege) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = code ? 0xb : 0x3;  // execute/read accessed : read/write accessed
  s.present = 1;
  s.dpl = static_cast<std::uint8_t>(privilege);
  s.db = code ? 0 : 1;
  s.s = 1;
  s.l = code ? 1 : 0;
  s.g = 1;
  return s;
}

}  // namespace

Result<void> setup_vcpu(Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid, const abi::KernelHeader& kernel,
                        const GuestLayout& layout, unsigned cpu, bool cpuid_set) {
  if (!cpuid_set) {
    if (auto ok = vcpu.set_cpuid(cpuid); !ok) return ok;
  }
  auto sregs = vcpu.sregs();
  if (!sregs) return std::unexpected(sregs.error());
  sregs->cr0 = kCr0ProtectedMode | kCr0MonitorCoprocessor | kCr0ExtensionType | kCr0NumericError | kCr0WriteProtect |
               kCr0AlignmentMask | kCr0Paging;
  sregs->cr3 = layout.pml4;
  // XSAVE state (AVX) only where the CPUID table enables it: KVM then shows
  // OSXSAVE in the app's CPUID and glibc checks XGETBV. On kvm_pvm it never does.
  const ExtendedState extended = extended_state(cpuid);
  sregs->cr4 = kCr4Pae | kCr4Osfxsr | kCr4Osxmmexcpt | (extended.xcr0 != 0 ? kCr4Osxsave : 0);
  sregs->efer = kEferSyscall | kEferLongModeEnable | kEferLongModeActive;
  sregs->cs = segment(abi::kKernelCodeSelector, true, 0);
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = segment(abi::kKernelDataSelector, false, 0);
  kvm_segment tss{};
  tss.base = abi::kTssAddr + cpu * abi::kTssStride;
  tss.limit = cpu == 0 ? kTssWithIoBitmapLimit : kTssLimit;  // vCPU 0 has the I/O bitmap (descriptor_tables.h)
  tss.selector = static_cast<std::uint16_t>(abi::kTssSelector + cpu * 16);
  tss.type = 0xb;  // 64-bit TSS, busy
  tss.present = 1;
  sregs->tr = tss;
  sregs->gdt.base = abi::kGdtAddr;
  sregs->gdt.limit = kGdtLimit;
  sregs->idt.base = abi::kIdtAddr;
  sregs->idt.limit = kIdtLimit;
  if (auto ok = vcpu.set_sregs(*sregs); !ok) return ok;
  if (extended.xcr0 != 0) {
    if (auto ok = vcpu.set_xcr0(extended.xcr0); !ok) return ok;
  }

  const std::uint64_t star = (static_cast<std::uint64_t>(abi::kUserDataSelector & ~3) - 8) << 48 |
                             static_cast<std::uint64_t>(abi::kKernelCodeSelector) << 32;
  if (auto ok = vcpu.set_msrs(
          {{kMsrStar, 0, star},
           {kMsrLstar, 0, cpu == 0 ? kernel.syscall_entry : kernel.syscall_entry_cpus + cpu * abi::kSyscallEntryStride},
           {kMsrSyscallMask, 0, kSyscallFlagMask}});
      !ok) {
    return ok;
  }

  kvm_regs regs{};
  // vCPU 0 boots the kernel; the others wait in it for threads (no INIT/SIPI:
  // they start in long mode like vCPU 0).
  regs.rip = cpu == 0 ? kernel.entry : kernel.secondary_entry;
  regs.rsp = cpu == 0 ? abi::kKernelStackTop : cpu_idle_stack_top(kernel, cpu);
  regs.rdi = cpu == 0 ? abi::kBootInfoAddr : cpu;
  regs.rflags = 0x2;
  return vcpu.set_regs(regs);
}

}  // namespace hyperlet
