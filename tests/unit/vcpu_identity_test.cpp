// A forked child's one vCPU takes the forking vCPU's state with vCPU 0's
// identity (vm/vcpu_identity.h): TR, LSTAR and the kvmclock MSR change, and
// nothing else does.
#include "vm/vcpu_identity.h"

#include <gtest/gtest.h>

#include <cstring>
#include <iterator>

namespace hyperlet {
namespace {

std::uint64_t saved_msr(const snapshot::VcpuState& state, std::uint32_t index) {
  for (std::size_t slot = 0; slot < std::size(snapshot::kSavedMsrs); ++slot) {
    if (snapshot::kSavedMsrs[slot] == index) return state.msr_values[slot];
  }
  ADD_FAILURE() << "MSR " << index << " is not kept";
  return 0;
}

TEST(VcpuIdentity, TheForkingVcpusStateBecomesVcpuZeros) {
  snapshot::VcpuState state{};
  state.regs.rip = 0x401234;
  state.regs.rsp = 0x7fff0000;
  state.sregs.tr.selector = 0x28 + 16 * 3;
  state.sregs.tr.base = 0x3000 + 3 * 128;
  state.sregs.cr3 = 0x9000;
  state.sregs.fs.base = 0x12340000;
  for (std::size_t slot = 0; slot < std::size(snapshot::kSavedMsrs); ++slot) state.msr_values[slot] = 100 + slot;
  const snapshot::VcpuState before = state;

  VcpuIdentity zero;
  zero.task_register.selector = 0x28;
  zero.task_register.base = 0x3000;
  zero.task_register.type = 0xb;
  zero.syscall_entry = 0xffffffff81000000;
  zero.kvmclock = 0x7000 | 1;
  give_vcpu_identity(state, zero);

  EXPECT_EQ(state.sregs.tr.selector, 0x28);
  EXPECT_EQ(state.sregs.tr.base, 0x3000u);
  EXPECT_EQ(state.sregs.tr.type, 0xb);
  EXPECT_EQ(saved_msr(state, 0xc0000082), zero.syscall_entry);
  EXPECT_EQ(saved_msr(state, 0x4b564d01), zero.kvmclock);
  // The thread's own state goes on as it was: registers, page tables, FS, STAR, the syscall mask.
  EXPECT_EQ(std::memcmp(&state.regs, &before.regs, sizeof state.regs), 0);
  EXPECT_EQ(state.sregs.cr3, before.sregs.cr3);
  EXPECT_EQ(state.sregs.fs.base, before.sregs.fs.base);
  EXPECT_EQ(saved_msr(state, 0xc0000081), saved_msr(before, 0xc0000081));
  EXPECT_EQ(saved_msr(state, 0xc0000084), saved_msr(before, 0xc0000084));
  EXPECT_EQ(saved_msr(state, 0xc0000102), saved_msr(before, 0xc0000102));
}

}  // namespace
}  // namespace hyperlet
