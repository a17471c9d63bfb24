// pvm_probe: what this host's kvm_pvm ("Pagetable-based Virtual Machine")
// offers a VMM, found by trying it (issue #10, step 1).
//
// It answers, from the host and from inside small raw guests:
//   1. which PVM ABI the host implements: host-readable MSRs, the synthetic
//      CPUID (`invlpg 0xffffffffff4d5650; cpuid`), which PVM MSR numbers a guest
//      can read and write (the numbers moved between versions of the spec);
//   2. whether a vCPU can be put into PVM supervisor mode, by host state or by
//      bootstrapping from the emulated ring 0 (wrmsr of the PVM MSRs);
//   3. if it can: the cost of a user->supervisor syscall event and its return
//      (EVENT_RETURN_USER), of a #PF from user mode, and of an exit to the host
//      from supervisor mode; and the non-PVM costs of the same things for
//      comparison.
// Every line it prints is one finding; "not available: <why>" where something
// is not there. It exits 0 whatever it finds (also without /dev/kvm or
// without kvm_pvm) and 1 only when the probe itself breaks.
//
// The guest code is the assembly block below, copied into guest memory twice:
// once on supervisor pages (no U bit) and once on user pages (U bit), because
// PVM tells kernel from user pages by the U bit. The host drives it one step
// at a time: KVM_SET_REGS points RIP at a routine with its inputs in registers,
// KVM_RUN runs it to its `out` on a report port, KVM_GET_REGS reads the result.

#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// --- the guest ---------------------------------------------------------------
//
// Reports are stores to REPORT + code, a page mapped to guest-physical memory
// with no memslot behind it, so each is an MMIO exit the host can read whatever
// mode the guest is in (mirrored by the constants below): DONE ends a step
// with its result in the registers; FAULT is an exception through the IDT
// (non-PVM mode); EVENT, EVENT256 and SUPER_EVENT are PVM events at
// MSR_PVM_EVENT_ENTRY, +256 and +512. NULL_PORT is an `out` the host answers
// by running on (the timed exit loops; NULL is the same as an MMIO store).
// PVCS is the guest-physical (= virtual, identity map) address of the PVM vCPU
// struct; its field offsets are those of struct pvm_vcpu_struct in the spec:
// user_cs 64, user_ss 66, event_errcode 68, event_vector 70, eflags 80, rip 88.
asm(R"(
  .pushsection .rodata.pvm_probe_guest, "a"
  .set DONE, 0xf0
  .set NULL_PORT, 0xf1
  .set FAULT, 0xf2
  .set EVENT, 0xf3
  .set EVENT256, 0xf4
  .set SUPER_EVENT, 0xf5
  .set MAGIC, 0x5a5a
  .set PVCS, 0x8000
  .set REPORT, 0x1f0000
  .balign 4096
pvm_guest_begin:

# cpuid with eax/ecx from the host.
pvm_guest_cpuid:
  cpuid
  movl %eax, REPORT + DONE
  hlt

# PVM_SYNTHETIC_CPUID: at the underlying CPL 3 the invlpg traps and the
# hypervisor answers the pair with PVM's own leaves; in a real ring 0 it is an
# ordinary invlpg and cpuid.
pvm_guest_synthetic_cpuid:
  .byte 0x0f, 0x01, 0x3c, 0x25, 0x50, 0x56, 0x4d, 0xff
  cpuid
  movl %eax, REPORT + DONE
  hlt

pvm_guest_rdmsr:
  rdmsr
  movl %eax, REPORT + DONE
  hlt

pvm_guest_wrmsr:
  wrmsr
  movl %eax, REPORT + DONE
  hlt

# Which mode is this? ebx = CS as the CPU sees it (PVM supervisor mode runs on
# the host's user CS, RPL 3), rsi = RFLAGS (PVM keeps the underlying IF set),
# rax = TSC cycles for 1000 turns of a two-instruction loop (emulated: ~0.6 ms).
pvm_guest_detect_mode:
  mov %cs, %ebx
  pushfq
  pop %rsi
  mov $1000, %ecx
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, %r8
1:
  dec %ecx
  jnz 1b
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub %r8, %rax
  movl %eax, REPORT + DONE
  hlt

# A far return to the kernel CS, which reloads CS through the hypervisor's
# segment path (where upstream PVM converts a vCPU to PVM mode); then detect.
pvm_guest_reload_cs:
  lea 1f(%rip), %rax
  pushq $0x10
  push %rax
  lretq
1:
  jmp pvm_guest_detect_mode

# r12 exits to the host, each timed: samples (TSC cycles) at rdi.
pvm_guest_time_out_exits:
1:
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, %r8
  outb %al, $NULL_PORT
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub %r8, %rax
  mov %rax, (%rdi)
  add $8, %rdi
  dec %r12
  jnz 1b
  movl %eax, REPORT + DONE
  hlt

# The same with an MMIO store as the exit.
pvm_guest_time_mmio_exits:
1:
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, %r8
  movl %eax, REPORT + NULL_PORT
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub %r8, %rax
  mov %rax, (%rdi)
  add $8, %rdi
  dec %r12
  jnz 1b
  movl %eax, REPORT + DONE
  hlt

# --- user mode (run from the copy on user pages) ---
# r12 round trips each, samples at rdi; r13 says how to report the end:
# 0 = syscall with eax = MAGIC (PVM), 1 = int3 with eax = MAGIC (IDT).
pvm_guest_user_syscall_loop:
1:
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, %r8
  xor %eax, %eax
  syscall
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub %r8, %rax
  mov %rax, (%rdi)
  add $8, %rdi
  dec %r12
  jnz 1b
  jmp pvm_guest_user_finish

pvm_guest_user_int3_loop:
1:
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, %r8
  xor %eax, %eax
  int3
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub %r8, %rax
  mov %rax, (%rdi)
  add $8, %rdi
  dec %r12
  jnz 1b
  jmp pvm_guest_user_finish

# rbx = an address with no mapping; each #PF handler skips the 2-byte load.
pvm_guest_user_fault_loop:
1:
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, %r8
  .byte 0x8a, 0x03            # mov (%rbx), %al
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  sub %r8, %rax
  mov %rax, (%rdi)
  add $8, %rdi
  dec %r12
  jnz 1b
  jmp pvm_guest_user_finish

pvm_guest_user_finish:
  mov $MAGIC, %eax
  test %r13, %r13
  jnz 1f
  syscall
  ud2
1:
  int3
  ud2

# --- non-PVM ring 0: IDT handlers and the way to ring 3 ---
  .balign 16
pvm_guest_fault_stubs:
  .irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .balign 16
  pushq $\vector
  jmp pvm_guest_fault_common
  .endr
# rax = vector, rdx = error code or RIP, rbx = the word above it.
pvm_guest_fault_common:
  pop %rax
  mov (%rsp), %rdx
  mov 8(%rsp), %rbx
  movl %eax, REPORT + FAULT
  hlt

pvm_guest_bp_handler:
  cmp $MAGIC, %eax
  je 1f
  iretq
1:
  movl %eax, REPORT + DONE
  hlt

pvm_guest_pf_skip_handler:
  addq $2, 8(%rsp)
  add $8, %rsp
  iretq

# r14 = user RIP, r15 = user RSP.
pvm_guest_ring0_enter_user:
  pushq $0x2b
  push %r15
  pushq $0x2
  pushq $0x33
  push %r14
  iretq

# --- PVM supervisor mode ---
  .balign 1024
# MSR_PVM_EVENT_ENTRY: events from user mode. A #PF skips the faulting 2-byte
# load and returns to user mode; anything else is reported.
pvm_guest_event_entry:
  cmpb $14, PVCS+70
  jne 1f
  addq $2, PVCS+88
  movw $0x100, PVCS+70
  jmp pvm_guest_retu
1:
  movzwl PVCS+70, %eax
  movzwl PVCS+68, %edx
  mov PVCS+88, %rbx
  movl %eax, REPORT + EVENT
  hlt
  .org pvm_guest_event_entry + 256
  movzwl PVCS+70, %eax
  movzwl PVCS+68, %edx
  mov PVCS+88, %rbx
  movl %eax, REPORT + EVENT256
  hlt
  .org pvm_guest_event_entry + 512
pvm_guest_super_event_entry:
  movzwl PVCS+70, %eax
  movzwl PVCS+68, %edx
  mov PVCS+88, %rbx
  movl %eax, REPORT + SUPER_EVENT
  hlt

# MSR_LSTAR: a syscall from user mode. MAGIC ends the step; anything else
# returns to user mode at once.
pvm_guest_lstar:
  cmp $MAGIC, %eax
  je 1f
  jmp pvm_guest_retu
1:
  movl %eax, REPORT + DONE
  hlt

# MSR_LSTAR for the native mode that MSR 0x4b564d10 bit 0 turns on: MAGIC
# ends the step, anything else returns with sysretq.
pvm_guest_lstar_sysret:
  cmp $MAGIC, %eax
  je 1f
  sysretq
1:
  movl %eax, REPORT + DONE
  hlt

# MSR_PVM_RETU_RIP: this syscall is EVENT_RETURN_USER.
pvm_guest_retu:
  syscall
  ud2

# r14 = user RIP, r15 = user RSP: fill the PVCS and EVENT_RETURN_USER.
pvm_guest_enter_user:
  movw $0x100, PVCS+70
  movw $0x33, PVCS+64
  movw $0x2b, PVCS+66
  movl $0x202, PVCS+80
  mov %r14, PVCS+88
  mov %r15, %rsp
  jmp pvm_guest_retu

pvm_guest_end:
  .popsection
)");

extern "C" {
extern const std::uint8_t pvm_guest_begin[], pvm_guest_end[], pvm_guest_cpuid[], pvm_guest_synthetic_cpuid[],
    pvm_guest_rdmsr[], pvm_guest_wrmsr[], pvm_guest_detect_mode[], pvm_guest_reload_cs[], pvm_guest_time_out_exits[],
    pvm_guest_time_mmio_exits[], pvm_guest_user_syscall_loop[], pvm_guest_user_int3_loop[], pvm_guest_user_fault_loop[],
    pvm_guest_user_finish[], pvm_guest_fault_stubs[], pvm_guest_bp_handler[], pvm_guest_pf_skip_handler[],
    pvm_guest_ring0_enter_user[], pvm_guest_event_entry[], pvm_guest_lstar[], pvm_guest_lstar_sysret[],
    pvm_guest_retu[], pvm_guest_enter_user[];
}

namespace {

constexpr std::uint16_t kDonePort = 0xf0, kNullPort = 0xf1, kFaultPort = 0xf2, kEventPort = 0xf3, kEvent256Port = 0xf4,
                        kSuperEventPort = 0xf5;
constexpr std::uint64_t kMagic = 0x5a5a;

// Guest memory, identity-mapped with 4 KiB pages.
constexpr std::size_t kMemorySize = 0x200000;
constexpr std::uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPageDirectory = 0x3000, kPageTable = 0x4000;
constexpr std::uint64_t kGdt = 0x5000, kIdt = 0x6000, kTss = 0x7000, kPvcs = 0x8000;
constexpr std::uint64_t kKernelCode = 0x10000, kUserCode = 0x20000;  // the guest block, twice
constexpr std::uint64_t kKernelStackTop = 0x38000;
constexpr std::uint64_t kUserStackTop = 0x48000, kUserSamples = 0x48000, kUserSamplesEnd = 0x50000;
constexpr std::uint64_t kUnmappedPage = 0x50000;
constexpr std::uint64_t kKernelSamples = 0x60000, kKernelSamplesEnd = 0x70000;
constexpr std::uint64_t kReportPage = 0x1f0000;   // virtual, mapped to kReportGpa
constexpr std::uint64_t kReportGpa = 0x10000000;  // no memslot: stores are MMIO exits
constexpr std::uint16_t kKernelCs = 0x10, kKernelDs = 0x18, kTssSelector = 0x40;
constexpr int kSamples = 2000;
static_assert(kSamples * 8 <= kUserSamplesEnd - kUserSamples && kSamples * 8 <= kKernelSamplesEnd - kKernelSamples);

constexpr std::uint32_t kMsrLstar = 0xc0000082;
constexpr std::uint32_t kPvmSignature = 0x4d5650;  // "PVM\0"

// The PVM MSR numbers of the two published versions of the spec.
struct PvmAbi {
  const char* name;
  std::uint32_t vcpu_struct, event_entry, retu_rip;
  std::uint32_t linear_address_range;  // 0: none in this version
};
constexpr std::array<PvmAbi, 2> kPvmAbis{{
    {"PVM ABI 1 (MSRs 0x4b564d20-2f, CPUID 0x40000200)", 0x4b564d20, 0x4b564d21, 0x4b564d22, 0},
    {"PVM RFC 2024 (MSRs 0x4b564df0-ff, CPUID 0x40000000 KVM + 0x40000002 ebx 'PVM')", 0x4b564df1, 0x4b564df4,
     0x4b564df5, 0x4b564df0},
}};

// Debian 12's <linux/kvm.h> gives the flexible-array structs the wrong sizeof
// in C++, so these ioctl numbers are spelled out with the C sizes.
constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, 8);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, 8);
constexpr unsigned long kGetMsrIndexList = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, 4);
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, 8);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, 8);

std::uint64_t guest_offset(const std::uint8_t* symbol) { return static_cast<std::uint64_t>(symbol - pvm_guest_begin); }
std::uint64_t kernel_address(const std::uint8_t* symbol) { return kKernelCode + guest_offset(symbol); }
std::uint64_t user_address(const std::uint8_t* symbol) { return kUserCode + guest_offset(symbol); }

void line(const char* format, ...) __attribute__((format(printf, 1, 2)));
void line(const char* format, ...) {
  std::fputs("pvm_probe: ", stdout);
  va_list arguments;
  va_start(arguments, format);
  std::vprintf(format, arguments);
  va_end(arguments);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

[[noreturn]] void broken(const char* what) {
  std::printf("pvm_probe: probe failed: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

// A guest hang (a spin in native supervisor mode) must not hang the probe: an
// interval timer interrupts KVM_RUN with EINTR.
void on_alarm(int) {}
void arm_step_timer(bool on) {
  itimerval timer{};
  timer.it_value.tv_sec = on ? 5 : 0;
  setitimer(ITIMER_REAL, &timer, nullptr);
}

struct Msr {
  std::uint32_t index;
  bool ok;
  std::uint64_t value;
};

// One MSR at a time through the C layout of struct kvm_msrs.
struct OneMsr {
  std::uint32_t nmsrs = 1, pad = 0;
  kvm_msr_entry entry{};
};
static_assert(sizeof(OneMsr) == 8 + sizeof(kvm_msr_entry));

Msr host_get_msr(int vcpu, std::uint32_t index) {
  OneMsr msrs;
  msrs.entry.index = index;
  return {index, ioctl(vcpu, kGetMsrs, &msrs) == 1, msrs.entry.data};
}
bool host_set_msr(int vcpu, std::uint32_t index, std::uint64_t value) {
  OneMsr msrs;
  msrs.entry.index = index;
  msrs.entry.data = value;
  return ioctl(vcpu, kSetMsrs, &msrs) == 1;
}

struct CpuidTable {
  std::uint32_t nent = 0, padding = 0;
  std::array<kvm_cpuid_entry2, 256> entries{};
};

// --- one raw guest -------------------------------------------------------------

enum class StepEnd { kDone, kFault, kEvent, kEvent256, kSuperEvent, kHalt, kTimeout, kOther };

struct Step {
  StepEnd end = StepEnd::kOther;
  kvm_regs regs{};
  std::uint32_t exit_reason = 0;
  std::uint32_t suberror = 0;
  std::uint64_t null_exits = 0;
  std::string describe() const;
};

std::string Step::describe() const {
  char text[200];
  switch (end) {
    case StepEnd::kDone:
      return "done";
    case StepEnd::kFault:
      std::snprintf(text, sizeof text, "exception vector %llu through the IDT (next words %#llx %#llx)", regs.rax,
                    regs.rdx, regs.rbx);
      return text;
    case StepEnd::kEvent:
    case StepEnd::kEvent256:
    case StepEnd::kSuperEvent:
      std::snprintf(text, sizeof text, "PVM event at %s: event_vector %#llx errcode %#llx rip %#llx",
                    end == StepEnd::kEvent      ? "EVENT_ENTRY"
                    : end == StepEnd::kEvent256 ? "EVENT_ENTRY+256"
                                                : "EVENT_ENTRY+512",
                    regs.rax, regs.rdx, regs.rbx);
      return text;
    case StepEnd::kHalt:
      std::snprintf(text, sizeof text, "hlt at rip %#llx", regs.rip);
      return text;
    case StepEnd::kTimeout:
      std::snprintf(text, sizeof text, "no exit within 5 s (rip %#llx)", regs.rip);
      return text;
    case StepEnd::kOther:
      std::snprintf(text, sizeof text, "exit reason %u (suberror %u) at rip %#llx", exit_reason, suberror, regs.rip);
      return text;
  }
  return "?";
}

struct GuestOptions {
  bool skip_user_page_faults = false;  // IDT #PF handler that skips the faulting load
  bool pvm_cr4 = false;                // CR4 with PCIDE|FSGSBASE as the PVM spec lists for PVM mode
  bool all_user_pages = false;         // the U bit on every page, the kernel's too
};

class Guest {
 public:
  Guest(int kvm, const CpuidTable& cpuid, const GuestOptions& options);
  ~Guest();
  Guest(const Guest&) = delete;
  Guest& operator=(const Guest&) = delete;

  // Runs from rip with the given registers until a report port, hlt or error.
  Step run(std::uint64_t rip, kvm_regs inputs);
  Step run(std::uint64_t rip) { return run(rip, kvm_regs{}); }
  int vcpu() const { return vcpu_; }
  std::uint8_t* memory() const { return memory_; }
  bool dead() const { return dead_; }
  std::uint64_t cr4() const { return cr4_; }

 private:
  void build_memory(const GuestOptions& options);
  void set_sregs(const CpuidTable& cpuid, const GuestOptions& options);

  int vm_ = -1, vcpu_ = -1;
  std::uint8_t* memory_ = nullptr;
  kvm_run* run_ = nullptr;
  std::size_t run_size_ = 0;
  bool dead_ = false;
  std::uint64_t cr4_ = 0;
};

Guest::Guest(int kvm, const CpuidTable& cpuid, const GuestOptions& options) {
  vm_ = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm_ < 0) broken("KVM_CREATE_VM");
  void* memory = mmap(nullptr, kMemorySize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) broken("mmap guest memory");
  memory_ = static_cast<std::uint8_t*>(memory);
  kvm_userspace_memory_region region{};
  region.memory_size = kMemorySize;
  region.userspace_addr = reinterpret_cast<std::uint64_t>(memory_);
  if (ioctl(vm_, KVM_SET_USER_MEMORY_REGION, &region) < 0) broken("KVM_SET_USER_MEMORY_REGION");
  vcpu_ = ioctl(vm_, KVM_CREATE_VCPU, 0);
  if (vcpu_ < 0) broken("KVM_CREATE_VCPU");
  const int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) broken("KVM_GET_VCPU_MMAP_SIZE");
  run_size_ = static_cast<std::size_t>(run_size);
  void* run = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_, 0);
  if (run == MAP_FAILED) broken("mmap kvm_run");
  run_ = static_cast<kvm_run*>(run);
  if (ioctl(vcpu_, kSetCpuid2, &cpuid) < 0) broken("KVM_SET_CPUID2");
  build_memory(options);
  set_sregs(cpuid, options);
}

Guest::~Guest() {
  munmap(run_, run_size_);
  munmap(memory_, kMemorySize);
  close(vcpu_);
  close(vm_);
}

void Guest::build_memory(const GuestOptions& options) {
  auto put64 = [&](std::uint64_t address, std::uint64_t value) { std::memcpy(memory_ + address, &value, 8); };
  constexpr std::uint64_t kPresent = 1, kWritable = 2, kUser = 4;
  put64(kPml4, kPdpt | kPresent | kWritable | kUser);
  put64(kPdpt, kPageDirectory | kPresent | kWritable | kUser);
  put64(kPageDirectory, kPageTable | kPresent | kWritable | kUser);
  for (std::uint64_t page = 0; page < kMemorySize; page += 0x1000) {
    if (page == 0 || page == kUnmappedPage) continue;
    // PVM keeps user mode off the pages without the U bit, so the kernel's
    // pages have none and the user's have it.
    const bool user = (page >= kUserCode && page < kUserCode + 0x10000) || (page >= 0x40000 && page < kUnmappedPage);
    put64(kPageTable + page / 0x1000 * 8, page | kPresent | kWritable | (user || options.all_user_pages ? kUser : 0));
  }
  put64(kPageTable + kReportPage / 0x1000 * 8,
        kReportGpa | kPresent | kWritable | (options.all_user_pages ? kUser : 0));

  // GDT: Linux's selectors, which PVM requires of user mode (0x2b, 0x33).
  const std::array<std::uint64_t, 8> gdt{
      0,
      0,
      0x00af9b000000ffff,  // 0x10 kernel code, 64-bit
      0x00cf93000000ffff,  // 0x18 kernel data
      0x00cffb000000ffff,  // 0x23 user code, 32-bit
      0x00cff3000000ffff,  // 0x2b user data
      0x00affb000000ffff,  // 0x33 user code, 64-bit
      0,
  };
  std::memcpy(memory_ + kGdt, gdt.data(), sizeof gdt);
  const std::uint64_t tss_low = 103 | (kTss & 0xffffff) << 16 | 0x89ull << 40 | ((kTss >> 24) & 0xff) << 56;
  put64(kGdt + kTssSelector, tss_low);
  put64(kGdt + kTssSelector + 8, kTss >> 32);
  put64(kTss + 4, kKernelStackTop);  // rsp0
  std::uint16_t no_io_bitmap = 104;
  std::memcpy(memory_ + kTss + 102, &no_io_bitmap, 2);

  auto gate = [&](int vector, std::uint64_t handler, int dpl) {
    const std::uint64_t low = (handler & 0xffff) | std::uint64_t{kKernelCs} << 16 |
                              std::uint64_t(0x8e | dpl << 5) << 40 | ((handler >> 16) & 0xffff) << 48;
    put64(kIdt + static_cast<std::uint64_t>(vector) * 16, low);
    put64(kIdt + static_cast<std::uint64_t>(vector) * 16 + 8, handler >> 32);
  };
  for (int vector = 0; vector < 32; ++vector)
    gate(vector, kernel_address(pvm_guest_fault_stubs) + static_cast<std::uint64_t>(vector) * 16, 0);
  gate(3, kernel_address(pvm_guest_bp_handler), 3);
  if (options.skip_user_page_faults) gate(14, kernel_address(pvm_guest_pf_skip_handler), 0);

  const auto size = static_cast<std::size_t>(pvm_guest_end - pvm_guest_begin);
  if (size > 0x10000) broken("guest code larger than its 64 KiB");
  std::memcpy(memory_ + kKernelCode, pvm_guest_begin, size);
  std::memcpy(memory_ + kUserCode, pvm_guest_begin, size);
}

// CPUID bits, as KVM_SET_SREGS refuses CR4 bits the guest's CPUID lacks.
bool cpuid_has(const CpuidTable& cpuid, std::uint32_t leaf, int reg, int bit) {
  for (std::uint32_t i = 0; i < cpuid.nent; ++i) {
    const kvm_cpuid_entry2& entry = cpuid.entries[i];
    if (entry.function != leaf || entry.index != 0) continue;
    const std::uint32_t value = reg == 1 ? entry.ebx : reg == 2 ? entry.ecx : entry.edx;
    return (value >> bit) & 1;
  }
  return false;
}

void Guest::set_sregs(const CpuidTable& cpuid, const GuestOptions& options) {
  kvm_sregs sregs{};
  if (ioctl(vcpu_, KVM_GET_SREGS, &sregs) < 0) broken("KVM_GET_SREGS");
  auto segment = [](std::uint16_t selector, bool code) {
    kvm_segment s{};
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = code ? 0xb : 0x3;
    s.present = 1;
    s.s = 1;
    s.l = code ? 1 : 0;
    s.db = code ? 0 : 1;
    s.g = 1;
    return s;
  };
  sregs.cs = segment(kKernelCs, true);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = segment(kKernelDs, false);
  sregs.tr = kvm_segment{};
  sregs.tr.base = kTss;
  sregs.tr.limit = 103;
  sregs.tr.selector = kTssSelector;
  sregs.tr.type = 0xb;
  sregs.tr.present = 1;
  sregs.ldt = kvm_segment{};
  sregs.ldt.unusable = 1;
  sregs.gdt.base = kGdt;
  sregs.gdt.limit = 0x4f;
  sregs.idt.base = kIdt;
  sregs.idt.limit = 0xfff;
  sregs.cr0 = 0x80050033;  // PG AM WP NE ET MP PE
  sregs.cr3 = kPml4;
  sregs.cr4 = 0x620;  // PAE OSFXSR OSXMMEXCPT
  if (options.pvm_cr4) {
    if (cpuid_has(cpuid, 1, 2, 17)) sregs.cr4 |= 1u << 17;  // PCIDE
    if (cpuid_has(cpuid, 7, 1, 0)) sregs.cr4 |= 1u << 16;   // FSGSBASE
  }
  sregs.efer = 0xd01;  // NXE LMA LME SCE
  if (ioctl(vcpu_, KVM_SET_SREGS, &sregs) < 0) broken("KVM_SET_SREGS");
  cr4_ = sregs.cr4;
}

Step Guest::run(std::uint64_t rip, kvm_regs inputs) {
  Step step;
  inputs.rip = rip;
  if (inputs.rsp == 0) inputs.rsp = kKernelStackTop;
  inputs.rflags = 0x2;
  if (ioctl(vcpu_, KVM_SET_REGS, &inputs) < 0) {
    step.end = StepEnd::kOther;
    dead_ = true;
    return step;
  }
  arm_step_timer(true);
  for (;;) {
    const int result = ioctl(vcpu_, KVM_RUN, 0);
    if (result < 0 && errno == EINTR) {
      step.end = StepEnd::kTimeout;
      dead_ = true;
      break;
    }
    if (result < 0) broken("KVM_RUN");
    step.exit_reason = run_->exit_reason;
    const bool report = run_->exit_reason == KVM_EXIT_MMIO && run_->mmio.is_write &&
                        run_->mmio.phys_addr >= kReportGpa && run_->mmio.phys_addr < kReportGpa + 0x1000;
    if (report || (run_->exit_reason == KVM_EXIT_IO && run_->io.direction == KVM_EXIT_IO_OUT)) {
      const auto port = report ? run_->mmio.phys_addr - kReportGpa : run_->io.port;
      if (port == kNullPort) {
        ++step.null_exits;
        continue;
      }
      step.end = port == kDonePort         ? StepEnd::kDone
                 : port == kFaultPort      ? StepEnd::kFault
                 : port == kEventPort      ? StepEnd::kEvent
                 : port == kEvent256Port   ? StepEnd::kEvent256
                 : port == kSuperEventPort ? StepEnd::kSuperEvent
                                           : StepEnd::kOther;
      break;
    }
    if (run_->exit_reason == KVM_EXIT_HLT) {
      step.end = StepEnd::kHalt;
      break;
    }
    if (run_->exit_reason == KVM_EXIT_INTERNAL_ERROR) step.suberror = run_->internal.suberror;
    step.end = StepEnd::kOther;
    dead_ = true;
    break;
  }
  arm_step_timer(false);
  ioctl(vcpu_, KVM_GET_REGS, &step.regs);
  return step;
}

// --- measurements --------------------------------------------------------------

double g_tsc_per_us = 0;

// The TSC rate, against CLOCK_MONOTONIC over 50 ms (the guest's TSC runs at
// the host's rate; KVM only offsets it).
double measure_tsc_per_us() {
  auto tsc = [] {
    std::uint32_t low, high;
    asm volatile("rdtsc" : "=a"(low), "=d"(high));
    return std::uint64_t{high} << 32 | low;
  };
  const auto start_time = std::chrono::steady_clock::now();
  const std::uint64_t start_tsc = tsc();
  while (std::chrono::steady_clock::now() - start_time < std::chrono::milliseconds(50)) {
  }
  const std::uint64_t end_tsc = tsc();
  const auto elapsed = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start_time);
  return static_cast<double>(end_tsc - start_tsc) / elapsed.count();
}

double cycles_to_us(double cycles) { return cycles / g_tsc_per_us; }

struct Summary {
  double median_us, p10_us, p90_us;
};

std::optional<Summary> summarize(const std::uint8_t* samples, int count) {
  std::vector<std::uint64_t> values(static_cast<std::size_t>(count));
  std::memcpy(values.data(), samples, values.size() * 8);
  std::sort(values.begin(), values.end());
  if (values.empty()) return std::nullopt;
  auto at = [&](double fraction) {
    return cycles_to_us(static_cast<double>(values[static_cast<std::size_t>(fraction * double(values.size() - 1))]));
  };
  return Summary{at(0.5), at(0.1), at(0.9)};
}

void print_cost(const char* what, const std::optional<Summary>& summary) {
  if (!summary) return;
  line("cost: %s: median %.2f us (p10 %.2f, p90 %.2f; %d samples)", what, summary->median_us, summary->p10_us,
       summary->p90_us, kSamples);
}

// --- the probes ------------------------------------------------------------------

struct Findings {
  bool pvm_module = false;
  bool host_info_msr_signature = false;
  std::string abi = "none: guest wrmsr of MSR_PVM_VCPU_STRUCT (0x4b564d20 and 0x4b564df1) takes #GP";
  std::string supervisor = "not available: not tried";
  std::optional<Summary> pvm_syscall, pvm_fault, pvm_exit, emulated_exit, emulated_mmio, idt_int3, idt_fault;
  std::string native = "not available: not tried";
  std::optional<Summary> native_out, native_mmio, native_syscall, native_int3, native_fault;
};

void probe_host(int kvm, Findings& findings) {
  findings.pvm_module = std::filesystem::exists("/sys/module/kvm_pvm");
  line("host: kvm_pvm module: %s", findings.pvm_module ? "present" : "absent");
  if (findings.pvm_module) {
    std::string parameters;
    for (const auto& entry : std::filesystem::directory_iterator("/sys/module/kvm_pvm/parameters"))
      parameters += entry.path().filename().string() + "=" + read_text(entry.path().string()) + " ";
    line("host: kvm_pvm parameters: %s", parameters.c_str());
  }

  struct {
    std::uint32_t count;
    std::array<std::uint32_t, 1024> indices;
  } list{};
  list.count = 1024;
  if (ioctl(kvm, kGetMsrIndexList, &list) == 0) {
    std::string listed;
    for (std::uint32_t i = 0; i < list.count; ++i)
      if (list.indices[i] >> 8 == 0x4b564d) {
        char text[16];
        std::snprintf(text, sizeof text, "%#x ", list.indices[i]);
        listed += text;
      }
    line("host: KVM_GET_MSR_INDEX_LIST: %u MSRs, in 0x4b564dxx: %s", list.count, listed.c_str());
  }

  // MSRs read and written by the host on a fresh vCPU: KVM's own paravirtual
  // block, both PVM blocks and the ones between.
  const int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  const int vcpu = vm < 0 ? -1 : ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) broken("host MSR probe vCPU");
  std::string readable, writable;
  for (std::uint32_t index = 0x4b564d00; index <= 0x4b564dff; ++index) {
    const Msr msr = host_get_msr(vcpu, index);
    if (!msr.ok) continue;
    char text[64];
    std::snprintf(text, sizeof text, "%#x=%#" PRIx64 " ", index, msr.value);
    readable += text;
    if (index == 0x4b564d11 && msr.value == kPvmSignature) findings.host_info_msr_signature = true;
    if (index >= 0x4b564d08 && host_set_msr(vcpu, index, msr.value)) writable += text;
  }
  line("host: KVM_GET_MSRS readable in 0x4b564d00-ff: %s", readable.empty() ? "none" : readable.c_str());
  line("host: KVM_SET_MSRS accepted (same value back) beyond KVM's 0x4b564d00-07: %s",
       writable.empty() ? "none" : writable.c_str());
  for (const PvmAbi& abi : kPvmAbis)
    line("host: KVM_SET_MSRS of %s MSR_PVM_VCPU_STRUCT %#x: %s", abi.name, abi.vcpu_struct,
         host_set_msr(vcpu, abi.vcpu_struct, kPvcs) ? "accepted" : "refused");
  if (findings.host_info_msr_signature)
    line("host: MSR 0x4b564d11 holds 0x4d5650 ('PVM'): kvm_pvm's own read-only information MSRs at 0x4b564d10-13");
  close(vcpu);
  close(vm);
}

void print_cpuid(const char* how, std::uint32_t leaf, const Step& step) {
  if (step.end != StepEnd::kDone) {
    line("guest: %s %#x: %s", how, leaf, step.describe().c_str());
    return;
  }
  char signature[13];
  const auto b = static_cast<std::uint32_t>(step.regs.rbx), c = static_cast<std::uint32_t>(step.regs.rcx),
             d = static_cast<std::uint32_t>(step.regs.rdx);
  std::memcpy(signature, &b, 4);
  std::memcpy(signature + 4, &c, 4);
  std::memcpy(signature + 8, &d, 4);
  for (char& ch : signature)
    if (ch < 32 || ch > 126) ch = '.';
  signature[12] = 0;
  line("guest: %s %#x: eax=%#llx ebx=%#llx ecx=%#llx edx=%#llx '%s'", how, leaf, step.regs.rax, step.regs.rbx,
       step.regs.rcx, step.regs.rdx, signature);
}

constexpr std::array<std::uint32_t, 7> kHypervisorLeaves{0x40000000, 0x40000001, 0x40000002, 0x40000003,
                                                         0x40000100, 0x40000200, 0x40000201};

void probe_cpuid(Guest& guest, const char* where) {
  for (std::uint32_t leaf : kHypervisorLeaves) {
    kvm_regs inputs{};
    inputs.rax = leaf;
    char how[80];
    std::snprintf(how, sizeof how, "%s synthetic cpuid", where);
    print_cpuid(how, leaf, guest.run(kernel_address(pvm_guest_synthetic_cpuid), inputs));
  }
}

// rdmsr of the PVM MSR blocks from the guest; a #GP is reported through the IDT
// (non-PVM mode) or as a supervisor event (PVM mode).
void probe_guest_msrs(Guest& guest, const char* where) {
  std::string readable;
  int refused = 0;
  for (std::uint32_t index = 0x4b564d00; index <= 0x4b564dff; ++index) {
    if (index > 0x4b564d3f && index < 0x4b564df0) continue;
    kvm_regs inputs{};
    inputs.rcx = index;
    const Step step = guest.run(kernel_address(pvm_guest_rdmsr), inputs);
    if (step.end == StepEnd::kDone) {
      char text[64];
      std::snprintf(text, sizeof text, "%#x=%#llx ", index, (step.regs.rdx << 32) | (step.regs.rax & 0xffffffff));
      readable += text;
    } else if (step.end == StepEnd::kFault || step.end == StepEnd::kSuperEvent) {
      ++refused;
    } else {
      line("guest: %s rdmsr %#x: %s", where, index, step.describe().c_str());
      return;
    }
  }
  line("guest: %s rdmsr readable in 0x4b564d00-3f, 0x4b564df0-ff: %s (%d others #GP)", where,
       readable.empty() ? "none" : readable.c_str(), refused);
}

struct Mode {
  bool supervisor = false;  // PVM supervisor mode: CS reads as the host's user CS (RPL 3)
  std::string text;
};

Mode detect_mode(Guest& guest) {
  const Step step = guest.run(kernel_address(pvm_guest_detect_mode));
  Mode mode;
  if (step.end != StepEnd::kDone) {
    mode.text = step.describe();
    return mode;
  }
  const auto cs = step.regs.rbx & 0xffff;
  mode.supervisor = (cs & 3) == 3;
  char text[200];
  std::snprintf(text, sizeof text, "CS=%#llx RFLAGS=%#llx, 2000 instructions in %.1f us -> %s", cs, step.regs.rsi,
                cycles_to_us(static_cast<double>(step.regs.rax)),
                mode.supervisor ? "PVM supervisor mode (native, CPL 3 underneath)"
                : cycles_to_us(static_cast<double>(step.regs.rax)) > 100 ? "ring 0, emulated"
                                                                         : "ring 0, native");
  mode.text = text;
  return mode;
}

bool guest_wrmsr(Guest& guest, std::uint32_t index, std::uint64_t value, const char* name) {
  kvm_regs inputs{};
  inputs.rcx = index;
  inputs.rax = value & 0xffffffff;
  inputs.rdx = value >> 32;
  const Step step = guest.run(kernel_address(pvm_guest_wrmsr), inputs);
  line("guest: wrmsr %s (%#x) = %#" PRIx64 ": %s", name, index, value,
       step.end == StepEnd::kDone ? "accepted" : step.describe().c_str());
  return step.end == StepEnd::kDone;
}

// Supervisor-mode costs, in a guest already in PVM supervisor mode.
void measure_pvm(Guest& guest, Findings& findings) {
  kvm_regs inputs{};
  inputs.rdi = kKernelSamples;
  inputs.r12 = kSamples;
  Step step = guest.run(kernel_address(pvm_guest_time_out_exits), inputs);
  if (step.end == StepEnd::kDone) {
    findings.pvm_exit = summarize(guest.memory() + kKernelSamples, kSamples);
    print_cost("PVM supervisor mode `out` exit to the host and back (guest TSC)", findings.pvm_exit);
  } else {
    line("cost: PVM supervisor `out` exits: not available: %s", step.describe().c_str());
  }

  auto user_loop = [&](const std::uint8_t* loop, const char* what, std::optional<Summary>& result) {
    kvm_regs user{};
    user.r14 = user_address(loop);
    user.r15 = kUserStackTop;
    user.rdi = kUserSamples;
    user.r12 = kSamples;
    user.r13 = 0;  // report the end with a syscall
    user.rbx = kUnmappedPage;
    const Step end = guest.run(kernel_address(pvm_guest_enter_user), user);
    if (end.end == StepEnd::kDone) {
      result = summarize(guest.memory() + kUserSamples, kSamples);
      print_cost(what, result);
    } else {
      line("cost: %s: not available: %s", what, end.describe().c_str());
    }
  };
  user_loop(pvm_guest_user_syscall_loop, "PVM user `syscall` -> LSTAR in supervisor mode -> EVENT_RETURN_USER",
            findings.pvm_syscall);
  user_loop(pvm_guest_user_fault_loop, "PVM user #PF (unmapped page) -> MSR_PVM_EVENT_ENTRY -> EVENT_RETURN_USER",
            findings.pvm_fault);
}

std::optional<Summary> time_kernel_loop(Guest& guest, const std::uint8_t* routine, const char* what);

// The same costs for a non-PVM guest (ring 0 emulated), for comparison.
void measure_non_pvm(int kvm, const CpuidTable& cpuid, Findings& findings) {
  Guest guest(kvm, cpuid, GuestOptions{.skip_user_page_faults = true});
  kvm_regs inputs{};
  inputs.rdi = kKernelSamples;
  inputs.r12 = kSamples;
  Step step = guest.run(kernel_address(pvm_guest_time_out_exits), inputs);
  if (step.end == StepEnd::kDone) {
    findings.emulated_exit = summarize(guest.memory() + kKernelSamples, kSamples);
    print_cost("non-PVM ring 0 `out` exit to the host and back (guest TSC)", findings.emulated_exit);
  } else {
    line("cost: non-PVM ring 0 `out` exits: not available: %s", step.describe().c_str());
  }

  findings.emulated_mmio =
      time_kernel_loop(guest, pvm_guest_time_mmio_exits, "non-PVM ring 0 MMIO store exit and back");
  auto user_loop = [&](const std::uint8_t* loop, const char* what, std::optional<Summary>& result) {
    kvm_regs user{};
    user.r14 = user_address(loop);
    user.r15 = kUserStackTop;
    user.rdi = kUserSamples;
    user.r12 = kSamples;
    user.r13 = 1;  // report the end with int3
    user.rbx = kUnmappedPage;
    const Step end = guest.run(kernel_address(pvm_guest_ring0_enter_user), user);
    if (end.end == StepEnd::kDone) {
      result = summarize(guest.memory() + kUserSamples, kSamples);
      print_cost(what, result);
    } else {
      line("cost: %s: not available: %s", what, end.describe().c_str());
    }
  };
  user_loop(pvm_guest_user_int3_loop, "non-PVM ring 3 int3 -> IDT handler in ring 0 -> iretq", findings.idt_int3);
  user_loop(pvm_guest_user_fault_loop, "non-PVM ring 3 #PF (unmapped page) -> IDT handler -> iretq",
            findings.idt_fault);
}

// Tries to reach PVM supervisor mode: host state alone, then the guest's own
// wrmsr of each spec version's MSRs from the emulated ring 0, then a CS reload.
// Returns the guest left in supervisor mode, if any.
std::unique_ptr<Guest> enter_supervisor_mode(int kvm, const CpuidTable& cpuid, Findings& findings) {
  for (bool pvm_cr4 : {false, true}) {
    auto guest = std::make_unique<Guest>(kvm, cpuid, GuestOptions{.pvm_cr4 = pvm_cr4});
    const Mode mode = detect_mode(*guest);
    line("guest: host-set long mode, CS 0x10 DPL 0 L=1, CR4=%#" PRIx64 ": %s", guest->cr4(), mode.text.c_str());
    if (mode.supervisor) {
      findings.supervisor = "entered from the host: KVM_SET_SREGS long mode, CR4 " + std::to_string(guest->cr4());
      return guest;
    }
  }
  {
    // A ring-3 syscall in non-PVM mode, with LSTAR at detect_mode.
    auto guest = std::make_unique<Guest>(kvm, cpuid, GuestOptions{});
    guest_wrmsr(*guest, kMsrLstar, kernel_address(pvm_guest_detect_mode), "MSR_LSTAR");
    guest_wrmsr(*guest, 0xc0000081, 0x0023001000000000, "MSR_STAR");
    kvm_regs user{};
    user.r14 = user_address(pvm_guest_user_finish);
    user.r15 = kUserStackTop;
    const Step step = guest->run(kernel_address(pvm_guest_ring0_enter_user), user);
    line("guest: ring 3 syscall to LSTAR=detect_mode: %s CS=%#llx RFLAGS=%#llx cycles=%llu", step.describe().c_str(),
         step.regs.rbx, step.regs.rsi, step.regs.rax);
    kvm_sregs sregs{};
    ioctl(guest->vcpu(), KVM_GET_SREGS, &sregs);
    line("guest: KVM_GET_SREGS there: cs=%#x dpl %u l %u ss=%#x efer=%#llx cr0=%#llx cr4=%#llx", sregs.cs.selector,
         sregs.cs.dpl, sregs.cs.l, sregs.ss.selector, sregs.efer, sregs.cr0, sregs.cr4);
  }
  for (const PvmAbi& abi : kPvmAbis) {
    auto guest = std::make_unique<Guest>(kvm, cpuid, GuestOptions{.pvm_cr4 = true});
    line("guest: bootstrap with %s:", abi.name);
    const bool pvcs = guest_wrmsr(*guest, abi.vcpu_struct, kPvcs, "MSR_PVM_VCPU_STRUCT");
    guest_wrmsr(*guest, abi.event_entry, kernel_address(pvm_guest_event_entry), "MSR_PVM_EVENT_ENTRY");
    guest_wrmsr(*guest, abi.retu_rip, kernel_address(pvm_guest_retu), "MSR_PVM_RETU_RIP");
    guest_wrmsr(*guest, kMsrLstar, kernel_address(pvm_guest_lstar), "MSR_LSTAR");
    if (guest->dead()) continue;
    Mode mode = detect_mode(*guest);
    line("guest: after the wrmsrs: %s", mode.text.c_str());
    if (!mode.supervisor && !guest->dead()) {
      const Step step = guest->run(kernel_address(pvm_guest_reload_cs));
      mode = Mode{};
      if (step.end == StepEnd::kDone) {
        mode = detect_mode(*guest);
        line("guest: after a far return to CS 0x10: %s", mode.text.c_str());
      } else {
        line("guest: far return to CS 0x10: %s", step.describe().c_str());
      }
    }
    if (mode.supervisor) {
      findings.supervisor = std::string("entered by bootstrap: ring-0 wrmsr of ") + abi.name;
      return guest;
    }
    if (pvcs) findings.abi = abi.name;
  }
  findings.supervisor =
      "not available: CS stays 0x10 (emulated ring 0) after host-set long mode and after the guest's wrmsr "
      "of both spec versions' PVM MSRs and a CS reload";
  return nullptr;
}

// Times a loop in guest mode: `routine` at kernel_address with r12 samples at rdi.
std::optional<Summary> time_kernel_loop(Guest& guest, const std::uint8_t* routine, const char* what) {
  kvm_regs inputs{};
  inputs.rdi = kKernelSamples;
  inputs.r12 = kSamples;
  const Step step = guest.run(kernel_address(routine), inputs);
  if (step.end != StepEnd::kDone) {
    line("cost: %s: not available: %s", what, step.describe().c_str());
    return std::nullopt;
  }
  auto summary = summarize(guest.memory() + kKernelSamples, kSamples);
  print_cost(what, summary);
  return summary;
}

// Times a user-mode loop entered by iretq from the guest kernel; r13 picks the
// way the loop reports its end (0 syscall, 1 int3).
std::optional<Summary> time_user_loop(Guest& guest, const std::uint8_t* loop, int finish_by_int3, const char* what) {
  kvm_regs user{};
  user.r14 = user_address(loop);
  user.r15 = kUserStackTop;
  user.rdi = kUserSamples;
  user.r12 = kSamples;
  user.r13 = static_cast<std::uint64_t>(finish_by_int3);
  user.rbx = kUnmappedPage;
  const Step end = guest.run(kernel_address(pvm_guest_ring0_enter_user), user);
  if (end.end != StepEnd::kDone) {
    line("cost: %s: not available: %s", what, end.describe().c_str());
    return std::nullopt;
  }
  auto summary = summarize(guest.memory() + kUserSamples, kSamples);
  print_cost(what, summary);
  return summary;
}

// kvm_pvm's own switch: ring 0 writes 1 to MSR 0x4b564d10 and from the next
// instruction on the guest kernel runs natively at CPL 3 (CS reads 0x33), with
// events still delivered through its IDT. It needs the U bit on the kernel's
// pages: without it the next instruction fetch faults (#PF error 0x15) and
// the vCPU triple-faults.
void probe_native_mode(int kvm, const CpuidTable& cpuid, Findings& findings) {
  for (bool all_user_pages : {false, true}) {
    Guest guest(kvm, cpuid, GuestOptions{.skip_user_page_faults = true, .all_user_pages = all_user_pages});
    line("guest: kvm_pvm MSR 0x4b564d10 bit 0, kernel pages %s:", all_user_pages ? "with the U bit" : "without U");
    guest_wrmsr(guest, 0x4b564d10, 1, "0x4b564d10");
    if (guest.dead()) continue;
    const Mode mode = detect_mode(guest);
    line("guest: after it: %s", mode.text.c_str());
    if (!mode.supervisor) continue;
    findings.native =
        "entered by ring-0 wrmsr 0x4b564d10 = 1 (kernel pages need the U bit); CS reads 0x33, events via the IDT";
    probe_cpuid(guest, "native kernel");
    probe_guest_msrs(guest, "native kernel");
    findings.native_out =
        time_kernel_loop(guest, pvm_guest_time_out_exits, "native kernel `out` exit to the host and back");
    findings.native_mmio = time_kernel_loop(guest, pvm_guest_time_mmio_exits, "native kernel MMIO store exit and back");
    findings.native_int3 =
        time_user_loop(guest, pvm_guest_user_int3_loop, 1, "native: user int3 -> IDT handler -> iretq");
    findings.native_fault =
        time_user_loop(guest, pvm_guest_user_fault_loop, 1, "native: user #PF (unmapped) -> IDT handler -> iretq");
    guest_wrmsr(guest, kMsrLstar, kernel_address(pvm_guest_lstar_sysret), "MSR_LSTAR");
    guest_wrmsr(guest, 0xc0000081, 0x0023001000000000, "MSR_STAR");
    findings.native_syscall =
        time_user_loop(guest, pvm_guest_user_syscall_loop, 0, "native: user syscall -> LSTAR -> sysretq");
    return;
  }
  findings.native = "not available: wrmsr 0x4b564d10 = 1 did not give native execution";
}

int run_probe() {
  utsname name{};
  uname(&name);
  line("host: %s %s %s", name.sysname, name.release, name.machine);
  Findings findings;

  const int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) {
    line("not available: /dev/kvm: %s", std::strerror(errno));
    line("summary: PVM: not available: no /dev/kvm");
    return 0;
  }
  struct sigaction action {};
  action.sa_handler = on_alarm;  // no SA_RESTART: KVM_RUN returns EINTR
  sigaction(SIGALRM, &action, nullptr);
  g_tsc_per_us = measure_tsc_per_us();
  line("host: TSC %.1f MHz (measured against CLOCK_MONOTONIC)", g_tsc_per_us);

  probe_host(kvm, findings);

  CpuidTable cpuid;
  cpuid.nent = cpuid.entries.size();
  if (ioctl(kvm, kGetSupportedCpuid, &cpuid) < 0) broken("KVM_GET_SUPPORTED_CPUID");
  for (std::uint32_t i = 0; i < cpuid.nent; ++i) {
    const kvm_cpuid_entry2& entry = cpuid.entries[i];
    if (entry.function >= 0x40000000 && entry.function < 0x50000000)
      line("host: KVM_GET_SUPPORTED_CPUID %#x: eax=%#x ebx=%#x ecx=%#x edx=%#x", entry.function, entry.eax, entry.ebx,
           entry.ecx, entry.edx);
  }

  {
    Guest guest(kvm, cpuid, GuestOptions{});
    line("guest: at start: %s", detect_mode(guest).text.c_str());
    probe_cpuid(guest, "ring 0");
    probe_guest_msrs(guest, "ring 0");
  }

  if (auto guest = enter_supervisor_mode(kvm, cpuid, findings)) {
    probe_cpuid(*guest, "supervisor mode");
    probe_guest_msrs(*guest, "supervisor mode");
    measure_pvm(*guest, findings);
  }
  probe_native_mode(kvm, cpuid, findings);
  measure_non_pvm(kvm, cpuid, findings);

  line("summary: kvm_pvm module: %s; host info MSR 0x4b564d11 'PVM': %s", findings.pvm_module ? "present" : "absent",
       findings.host_info_msr_signature ? "yes" : "no");
  line("summary: PVM spec MSRs accepted by guest wrmsr: %s", findings.abi.c_str());
  line("summary: PVM-spec supervisor mode: %s", findings.supervisor.c_str());
  line("summary: kvm_pvm native kernel mode: %s", findings.native.c_str());
  auto cost = [](const char* what, const std::optional<Summary>& summary) {
    if (summary)
      line("summary: cost %s: %.2f us", what, summary->median_us);
    else
      line("summary: cost %s: not available", what);
  };
  cost("PVM user syscall + EVENT_RETURN_USER", findings.pvm_syscall);
  cost("PVM user #PF + EVENT_RETURN_USER", findings.pvm_fault);
  cost("PVM supervisor out exit", findings.pvm_exit);
  cost("native kernel out exit", findings.native_out);
  cost("native kernel MMIO exit", findings.native_mmio);
  cost("native user syscall -> LSTAR -> sysretq", findings.native_syscall);
  cost("native user int3 via IDT", findings.native_int3);
  cost("native user #PF via IDT", findings.native_fault);
  cost("non-PVM ring 0 out exit", findings.emulated_exit);
  cost("non-PVM ring 0 MMIO exit", findings.emulated_mmio);
  cost("non-PVM ring 3 int3 via IDT", findings.idt_int3);
  cost("non-PVM ring 3 #PF via IDT", findings.idt_fault);
  close(kvm);
  return 0;
}

}  // namespace

int main() { return run_probe(); }
