// The guest kernel attacked from ring 3 (programs/kernel_hostile.cpp): wild
// and wrapping addresses and lengths, kernel pointers, unloadable segment
// bases, a direction flag left set, and user memory the kernel must not touch
// blindly. Each attack ends in a normal errno or the app's own signal, as on
// Linux: never a guest-kernel fault (123), a failed VM (122), or a kernel page
// read or written. Skips without /dev/kvm.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <regex>
#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/kernel_hostile";

class GuestKernelAttack : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
  // With 5-level paging (LA57, e.g. QEMU's -cpu max under scripts/test-hw-kvm)
  // Linux's TASK_SIZE_MAX is 2^56 - 4096, so natively an FS base of 2^47 - 4096
  // is accepted; the guest has 4-level paging and must refuse it. Only a
  // mapping that 5-level paging allows can be placed at 2^50.
  static bool host_has_5_level_paging() {
    void* const high = reinterpret_cast<void*>(1ul << 50);
    void* const got = ::mmap(high, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (got == MAP_FAILED) return false;
    ::munmap(got, 4096);
    return got == high;
  }
  static ProcessResult run(const std::string& mode) {
    return run_process({kHyperlet, "run", "--timeout", "20s", kProgram, mode});
  }
  // Runs `mode` in a microVM and natively: both must end with status 0 and the
  // same output, which must be `expected` (natively only where the host's
  // address space is the guest's, when `native_needs_4_level_paging`).
  static void expect_as_native(const std::string& mode, const std::string& expected,
                               bool native_needs_4_level_paging = false) {
    const auto result = run(mode);
    EXPECT_EQ(result.status, 0) << describe(result);
    EXPECT_EQ(result.out, expected) << describe(result);
    EXPECT_EQ(result.err, "") << describe(result);
    if (native_needs_4_level_paging && host_has_5_level_paging()) return;
    const auto native = run_process({kProgram, mode});
    EXPECT_EQ(native.out, expected) << "the native run must agree\n" << describe(native);
  }
};

// brk(~0) used to wrap the heap limit to 64 KiB, after which MAP_FIXED mapped
// over the kernel image (and mremap read it out).
TEST_F(GuestKernelAttack, WrappedBreakLeavesKernelMemoryUnmappable) {
  const auto result = run("wrapped-break");
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "brk(~0) keeps the break: 1\n"
            "brk(1 << 40) keeps the break: 1\n"
            "brk(kernel) keeps the break: 1\n"
            "mmap MAP_FIXED over the kernel image: ENOMEM\n"
            "mmap MAP_FIXED over BootInfo: ENOMEM\n"
            "mremap the kernel image out: EFAULT\n"
            "mremap the kernel image in place: EFAULT\n"
            "munmap the kernel image: EINVAL\n"
            "mprotect the kernel image: ENOMEM\n"
            "madvise the kernel image: ENOMEM\n"
            "an ordinary mapping: still here\n")
      << describe(result);
  EXPECT_EQ(result.err, "") << describe(result);
}

TEST_F(GuestKernelAttack, LengthsThatWrapWhenRoundedGetLinuxErrors) {
  expect_as_native("wrapping-lengths",
                   "munmap ~0: EINVAL\n"
                   "munmap -4096: EINVAL\n"
                   "mprotect ~0: ENOMEM\n"
                   "madvise ~0: EINVAL\n"
                   "mremap to ~0: EINVAL\n"
                   "mmap ~0: ENOMEM\n"
                   "mmap -4096: ENOMEM\n"
                   "brk(~0) keeps the break: 1\n"
                   "the block: still mapped\n");
}

TEST_F(GuestKernelAttack, KernelPointersAreEfault) {
  const auto result = run("kernel-pointers");
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "futex wait on the kernel: EFAULT\n"
            "futex wake on the kernel: EFAULT\n"
            "futex requeue to the kernel: EFAULT\n"
            "futex wake misaligned: EINVAL\n"
            "clock_gettime into BootInfo: EFAULT\n"
            "uname into the kernel image: EFAULT\n"
            "getrandom into the kernel image: EFAULT\n"
            "rt_sigaction from the kernel image: EFAULT\n"
            "arch_prctl GET_FS into BootInfo: EFAULT\n")
      << describe(result);
}

// A non-canonical FS/GS base made wrmsr fault in ring 0 (arch_prctl at once,
// clone's CLONE_SETTLS at the child's first switch).
TEST_F(GuestKernelAttack, UnloadableSegmentBasesAreEperm) {
  expect_as_native("segment-bases",
                   "arch_prctl SET_FS non-canonical: EPERM\n"
                   "arch_prctl SET_GS non-canonical: EPERM\n"
                   "arch_prctl SET_FS TASK_SIZE_MAX: EPERM\n"
                   "clone CLONE_SETTLS non-canonical: EPERM\n"
                   "sched_yield: ok\n",
                   /*native_needs_4_level_paging=*/true);
}

// The #UD stub read two bytes at rip to recognise a rewritten syscall.
TEST_F(GuestKernelAttack, InvalidOpcodeBeforeAProtNonePageIsTheAppsSigill) {
  const auto result = run("invalid-opcode-at-page-end");
  EXPECT_EQ(result.status, 132) << describe(result);
  EXPECT_TRUE(std::regex_match(result.err, std::regex("hyperlet: app crashed: invalid opcode \\(#UD\\) at rip "
                                                      "0x[0-9a-f]+fff.*\n")))
      << describe(result);
  EXPECT_EQ(run_process({kProgram, "invalid-opcode-at-page-end"}).status, 132) << "natively SIGILL too";
}

// The other side of the same check: a rewritten syscall whose two bytes lie on
// two pages is still a syscall.
TEST_F(GuestKernelAttack, SyscallAcrossAPageBoundaryStillWorks) {
  expect_as_native("syscall-across-pages", "getpid across a page boundary: 1\n");
}

// The #GP stub reads two bytes at rip to recognise a direct syscall (abi.h) the
// host sent back: at a page's last byte it must look across the pages.
TEST_F(GuestKernelAttack, DirectSyscallSentBackAcrossAPageBoundaryStillWorks) {
  expect_as_native("direct-syscall-across-pages", "getpid through a direct site across a page boundary: 1\n");
}

// The direct-syscall port is open to ring 3 while the app is single-threaded;
// any other use of it than a direct syscall's `out` is the app's crash, SIGSEGV
// as natively (no port access at all there).
TEST_F(GuestKernelAttack, PortIoOtherThanADirectSyscallIsTheAppsSigsegv) {
  for (const char* mode : {"port-in", "port-out-byte"}) {
    SCOPED_TRACE(mode);
    const auto result = run(mode);
    EXPECT_EQ(result.status, 139) << describe(result);
    EXPECT_EQ(run_process({kProgram, mode}).status, 139) << "natively SIGSEGV too";
    if (result.err.find("port I/O") == std::string::npos) {
      // Under --syscall-entry syscall the port is never opened: the #GP is an ordinary fault.
      EXPECT_NE(result.err.find("app crashed: general protection"), std::string::npos) << describe(result);
    }
  }
}

// mremap copied the old range in ring 0 without looking at PROT_NONE pages.
TEST_F(GuestKernelAttack, MremapOfProtNonePagesIsEfaultOrMovesThem) {
  expect_as_native("mremap-prot-none",
                   "mremap grow, one page PROT_NONE: EFAULT\n"
                   "mremap grow, all PROT_NONE: ok\n"
                   "mprotect the moved pages: ok\n"
                   "moved contents: r\n"
                   "the first block: m\n");
}

// DF set by the app reached the kernel's rep movs/stos (mremap's copy, clone's
// thread-table clear), which then ran backwards below their buffers.
TEST_F(GuestKernelAttack, DirectionFlagDoesNotReverseKernelCopies) {
  expect_as_native("direction-flag",
                   "mremap with DF set: ok\n"
                   "bytes copied in order: 4096 of 4096\n");
}

}  // namespace
}  // namespace hyperlet::testing
