#include "vm/fault_report.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "elf_builder.h"
#include "test_printers.h"

namespace hyperlet {
namespace {

using abi::Exception;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::uint64_t kUserCs = abi::kUserCodeSelector;      // 0x23
constexpr std::uint64_t kKernelCs = abi::kKernelCodeSelector;  // 0x08
constexpr std::uint64_t kErrorPresent = 1;
constexpr std::uint64_t kErrorWrite = 2;
constexpr std::uint64_t kErrorUser = 4;
constexpr std::uint64_t kErrorFetch = 16;

GuestLayout layout_16m() {
  auto layout = compute_guest_layout(16ull << 20, 0x400000, 0x4a1234);
  EXPECT_TRUE(layout.has_value());
  return layout.value_or(GuestLayout{});
}

abi::FaultArgs fault(Exception vector, std::uint64_t cs, std::uint64_t rip = 0x401234, std::uint64_t cr2 = 0,
                     std::uint64_t error_code = 0) {
  abi::FaultArgs args{};
  args.vector = static_cast<std::uint64_t>(vector);
  args.cs = cs;
  args.rip = rip;
  args.cr2 = cr2;
  args.error_code = error_code;
  args.rflags = 0x202;
  args.rsp = 0xf00000;
  return args;
}

class FaultReport : public ::testing::Test {
 protected:
  Error describe(const abi::FaultArgs& args, bool syscall_trap = false) const {
    return describe_fault(args, layout_, symbols_, syscall_trap);
  }
  GuestLayout layout_ = layout_16m();
  SymbolTable symbols_;
};

TEST_F(FaultReport, NullPointerReadFromApp) {
  const Error error = describe(fault(Exception::kPageFault, kUserCs, 0x401234, 0, kErrorUser));
  EXPECT_EQ(error.status, ExitStatus::kAppSigsegv);
  EXPECT_EQ(error.message,
            "app crashed: page fault (#PF) at rip 0x401234 reading address 0x0 (null pointer dereference)");
}

TEST_F(FaultReport, NullPointerWriteNearZero) {
  const Error error = describe(fault(Exception::kPageFault, kUserCs, 0x401234, 0x18, kErrorUser | kErrorWrite));
  EXPECT_EQ(error.status, ExitStatus::kAppSigsegv);
  EXPECT_THAT(error.message, HasSubstr("writing address 0x18 (null pointer dereference)"));
}

TEST_F(FaultReport, JumpToNull) {
  const Error error = describe(fault(Exception::kPageFault, kUserCs, 0, 0, kErrorUser | kErrorFetch));
  EXPECT_EQ(error.status, ExitStatus::kAppSigsegv);
  EXPECT_THAT(error.message, HasSubstr("at rip 0x0 executing address 0x0 (null pointer dereference)"));
}

TEST_F(FaultReport, AddressJustPastPageZeroIsNotNull) {
  const Error error =
      describe(fault(Exception::kPageFault, kUserCs, 0x401234, abi::kPageSize, kErrorUser | kErrorPresent));
  EXPECT_THAT(error.message, Not(HasSubstr("null pointer")));
  EXPECT_THAT(error.message, HasSubstr("reading address 0x1000 (guest kernel memory)"));
}

TEST_F(FaultReport, StackOverflow) {
  const std::uint64_t cr2 = layout_.stack_bottom - 8;
  const Error error = describe(fault(Exception::kPageFault, kUserCs, 0x401234, cr2, kErrorUser | kErrorWrite));
  EXPECT_EQ(error.status, ExitStatus::kAppSigsegv);
  EXPECT_THAT(error.message, HasSubstr("(stack overflow: the stack is 1024 KiB)"));
  // Bottom of the guard too.
  EXPECT_THAT(describe(fault(Exception::kPageFault, kUserCs, 0x401234, layout_.mmap_top, kErrorUser)).message,
              HasSubstr("stack overflow"));
  // Just below the guard is ordinary memory, not an overflow.
  EXPECT_THAT(describe(fault(Exception::kPageFault, kUserCs, 0x401234, layout_.mmap_top - 1, kErrorUser)).message,
              Not(HasSubstr("stack overflow")));
}

TEST_F(FaultReport, UnmappedAddress) {
  const Error error = describe(fault(Exception::kPageFault, kUserCs, 0x401234, 0x7000'0000'0000ull, kErrorUser));
  EXPECT_EQ(error.status, ExitStatus::kAppSigsegv);
  EXPECT_THAT(error.message, HasSubstr("reading address 0x700000000000 (not mapped)"));
}

TEST_F(FaultReport, DivideError) {
  const Error error = describe(fault(Exception::kDivideError, kUserCs));
  EXPECT_EQ(error.status, ExitStatus::kAppSigfpe);
  EXPECT_EQ(error.message, "app crashed: divide error (#DE) at rip 0x401234");
}

TEST_F(FaultReport, InvalidOpcode) {
  const Error error = describe(fault(Exception::kInvalidOpcode, kUserCs));
  EXPECT_EQ(error.status, ExitStatus::kAppSigill);
  EXPECT_EQ(error.message, "app crashed: invalid opcode (#UD) at rip 0x401234");
}

TEST_F(FaultReport, Breakpoint) {
  const Error error = describe(fault(Exception::kBreakpoint, kUserCs));
  EXPECT_EQ(error.status, ExitStatus::kAppSigtrap);
  EXPECT_THAT(error.message, HasSubstr("breakpoint (#BP)"));
}

TEST_F(FaultReport, OtherAppExceptions) {
  EXPECT_EQ(describe(fault(Exception::kGeneralProtection, kUserCs)).status, ExitStatus::kAppSigsegv);
  EXPECT_EQ(describe(fault(Exception::kAlignmentCheck, kUserCs)).status, ExitStatus::kAppSigbus);
  EXPECT_EQ(describe(fault(Exception::kSimdFloating, kUserCs)).status, ExitStatus::kAppSigfpe);
  EXPECT_EQ(describe(fault(Exception::kX87Floating, kUserCs)).status, ExitStatus::kAppSigfpe);
  EXPECT_EQ(describe(fault(Exception::kDebug, kUserCs)).status, ExitStatus::kAppSigtrap);
  EXPECT_EQ(describe(fault(Exception::kOverflow, kUserCs)).status, ExitStatus::kAppSigsegv);
  EXPECT_THAT(describe(fault(Exception::kGeneralProtection, kUserCs)).message,
              HasSubstr("general protection fault (#GP)"));
}

TEST_F(FaultReport, KernelFault) {
  const Error error = describe(fault(Exception::kPageFault, kKernelCs, 0x100400, 0x7000'0000, kErrorWrite));
  EXPECT_EQ(error.status, ExitStatus::kGuestKernelFault);
  EXPECT_EQ(error.message,
            "guest kernel fault: page fault (#PF) at rip 0x100400 writing address 0x70000000 "
            "(not mapped) (error code 0x2; a hyperlet bug)");
}

TEST_F(FaultReport, KernelFaultIsNeverAnAppSignal) {
  for (Exception vector : {Exception::kDivideError, Exception::kInvalidOpcode, Exception::kBreakpoint,
                           Exception::kGeneralProtection, Exception::kDoubleFault}) {
    const Error error = describe(fault(vector, kKernelCs));
    EXPECT_EQ(error.status, ExitStatus::kGuestKernelFault) << static_cast<int>(vector);
    EXPECT_THAT(error.message, HasSubstr("guest kernel fault: "));
  }
}

TEST_F(FaultReport, KernelNullPointer) {
  const Error error = describe(fault(Exception::kPageFault, kKernelCs, 0x100400, 0x8, 0));
  EXPECT_EQ(error.status, ExitStatus::kGuestKernelFault);
  EXPECT_THAT(error.message, HasSubstr("null pointer dereference"));
}

TEST_F(FaultReport, NamesTheAppFunction) {
  testing::ElfImage image = testing::ElfImage::static_executable();
  Elf64_Sym main_symbol{};
  main_symbol.st_name = 1;
  main_symbol.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
  main_symbol.st_value = 0x401200;
  main_symbol.st_size = 0x100;
  image.header.e_shoff = 0x2400;
  Elf64_Shdr strtab{};
  strtab.sh_type = SHT_STRTAB;
  strtab.sh_offset = 0x2100;
  strtab.sh_size = 6;
  Elf64_Shdr symtab{};
  symtab.sh_type = SHT_SYMTAB;
  symtab.sh_offset = 0x2200;
  symtab.sh_size = 2 * sizeof(Elf64_Sym);
  symtab.sh_link = 1;
  symtab.sh_entsize = sizeof(Elf64_Sym);
  image.section_headers = {Elf64_Shdr{}, strtab, symtab};
  image.add_blob(0x2100, testing::to_bytes(std::string("\0main\0", 6)));
  image.add_blob(0x2200, testing::to_bytes(std::vector<Elf64_Sym>{Elf64_Sym{}, main_symbol}));
  symbols_ = SymbolTable::from_elf(image.bytes(), 0);
  ASSERT_EQ(symbols_.size(), 1u);

  const Error app = describe(fault(Exception::kInvalidOpcode, kUserCs, 0x40121c));
  EXPECT_EQ(app.message, "app crashed: invalid opcode (#UD) at rip 0x40121c (main+0x1c)");
  // A `syscall` that was not rewritten is named by its own address (rcx - 2).
  auto at_lstar = fault(Exception::kPageFault, kUserCs, abi::kKernelImageBase + 0x40, abi::kKernelImageBase + 0x40,
                        kErrorPresent | kErrorUser | kErrorFetch);
  at_lstar.rcx = 0x401230;
  EXPECT_THAT(describe(at_lstar, true).message,
              HasSubstr("the app's `syscall` at 0x40122e (main+0x2e) was not rewritten"));
  // Kernel rips are not looked up in the app's symbols.
  const Error kernel = describe(fault(Exception::kInvalidOpcode, kKernelCs, 0x40121c));
  EXPECT_THAT(kernel.message, Not(HasSubstr("main")));
}

// On kvm_pvm a ring-3 `syscall` jumps to LSTAR without entering ring 0 and
// faults there fetching kernel memory. The report names the syscall itself
// (its return address is in rcx) and says why it ran un-rewritten.
TEST_F(FaultReport, ASyscallThatReachedLstarInRingThree) {
  auto args = fault(Exception::kPageFault, kUserCs, abi::kKernelImageBase + 0x40, abi::kKernelImageBase + 0x40,
                    kErrorPresent | kErrorUser | kErrorFetch);
  args.rcx = 0x401236;
  const Error trap = describe(args, true);
  EXPECT_EQ(trap.status, ExitStatus::kAppSigsegv);
  EXPECT_THAT(trap.message, HasSubstr("the app's `syscall` at 0x401234 was not rewritten to the trap"));
  EXPECT_THAT(trap.message, HasSubstr("only syscalls it can prove are code"));
  const Error lstar = describe(args, false);
  EXPECT_THAT(lstar.message, HasSubstr("the app's `syscall` at 0x401234 reached the guest kernel's entry"));
  EXPECT_THAT(lstar.message, HasSubstr("use --syscall-entry trap"));
}

TEST(ExceptionName, KnownAndUnknownVectors) {
  EXPECT_EQ(std::string(exception_name(0)), "divide error (#DE)");
  EXPECT_EQ(std::string(exception_name(8)), "double fault (#DF)");
  EXPECT_EQ(std::string(exception_name(14)), "page fault (#PF)");
  EXPECT_EQ(std::string(exception_name(9)), "CPU exception");  // reserved vector
  EXPECT_EQ(std::string(exception_name(0x81)), "CPU exception");
  EXPECT_EQ(std::string(exception_name(0xff)), "CPU exception");
}

// The vector is a guest-supplied uint64_t; cast to the uint8_t-based
// abi::Exception too early, vector 0x100 + n would be named (and mapped to a
// signal) as exception n.
TEST(ExceptionName, VectorsAbove255AreNotTruncated) {
  EXPECT_EQ(std::string(exception_name(0x100)), "CPU exception");
  EXPECT_EQ(std::string(exception_name(0x10e)), "CPU exception");
  const auto layout = compute_guest_layout(16ull << 20, 0x400000, 0x4a1234);
  ASSERT_TRUE(layout.has_value());
  abi::FaultArgs args = fault(Exception::kDivideError, kUserCs);
  args.vector = 0x106;  // would be #UD after truncation
  EXPECT_EQ(describe_fault(args, *layout, SymbolTable{}, false).status, ExitStatus::kAppSigsegv);
}

}  // namespace
}  // namespace hyperlet

namespace hyperlet {
namespace {

TEST(OutOfMemoryNote, NothingWhenNoAllocationWasRefused) {
  EXPECT_EQ(out_of_memory_note(abi::GuestStatus{}, 256ull << 20), "");
}

TEST(OutOfMemoryNote, NamesTheRefusalsAndAMemorySizeThatFits) {
  abi::GuestStatus status{};
  status.failed_allocations = 1;
  status.largest_failed = 100ull << 20;
  EXPECT_EQ(out_of_memory_note(status, 256ull << 20),
            " (before that it ran out of guest memory: 1 allocation was refused, the largest 100 MiB, with --memory "
            "256M; try --memory 512M)");
  // A request larger than the memory itself: memory + request, rounded up to a power of two.
  status.failed_allocations = 3;
  status.largest_failed = 700ull << 20;
  EXPECT_EQ(out_of_memory_note(status, 256ull << 20),
            " (before that it ran out of guest memory: 3 allocations were refused, the largest 700 MiB, with --memory "
            "256M; try --memory 1024M)");
}

}  // namespace
}  // namespace hyperlet
