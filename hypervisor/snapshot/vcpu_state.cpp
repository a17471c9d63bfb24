#include "snapshot/vcpu_state.h"

#include <vector>

namespace hyperlet::snapshot {
namespace {

constexpr std::uint64_t kCr4Osxsave = 1ull << 18;

}  // namespace

Result<VcpuState> capture_vcpu(const Vcpu& vcpu, const VmFd& vm) {
  VcpuState state{};
  auto regs = vcpu.regs();
  if (!regs) return std::unexpected(regs.error());
  auto sregs = vcpu.sregs();
  if (!sregs) return std::unexpected(sregs.error());
  auto fpu = vcpu.fpu();
  if (!fpu) return std::unexpected(fpu.error());
  auto events = vcpu.events();
  if (!events) return std::unexpected(events.error());
  auto msrs = vcpu.msrs(std::vector<std::uint32_t>(std::begin(kSavedMsrs), std::end(kSavedMsrs)));
  if (!msrs) return std::unexpected(msrs.error());
  auto clock = vm.clock();
  if (!clock) return std::unexpected(clock.error());
  state.regs = *regs;
  state.sregs = *sregs;
  state.fpu = *fpu;
  state.events = *events;
  for (std::size_t i = 0; i < kSavedMsrCount; ++i) state.msr_values[i] = (*msrs)[i].data;
  state.kvmclock_ns = *clock;
  if ((state.sregs.cr4 & kCr4Osxsave) != 0) {
    auto xcrs = vcpu.xcrs();
    if (!xcrs) return std::unexpected(xcrs.error());
    auto xsave = vcpu.xsave();
    if (!xsave) return std::unexpected(xsave.error());
    state.xcrs = *xcrs;
    state.xsave = *xsave;
  } else if (auto xsave = vcpu.xsave()) {
    // kvm_pvm: no guest XSAVE, but the app runs with the host's XCR0 and KVM
    // keeps its ymm/zmm state, which KVM_GET_FPU lacks.
    state.xsave = *xsave;
  }
  return state;
}

// Whether the snapshot holds an XSAVE area: its legacy region's x87 control word
// is never 0 in one KVM wrote (0x37f at reset); an area never captured is all zero.
static bool has_xsave_area(const VcpuState& state) { return (state.xsave.region[0] & 0xffff) != 0; }

Result<void> apply_vcpu(Vcpu& vcpu, VmFd& vm, const VcpuState& state) {
  if (auto ok = vcpu.set_sregs(state.sregs); !ok) return ok;
  std::vector<kvm_msr_entry> msrs(kSavedMsrCount);
  for (std::size_t i = 0; i < kSavedMsrCount; ++i) {
    msrs[i].index = kSavedMsrs[i];
    msrs[i].data = state.msr_values[i];
  }
  // kvmclock first, so that writing its MSR makes KVM fill the pvclock page
  // from the clock the guest had.
  if (auto ok = vm.set_clock(state.kvmclock_ns); !ok) return ok;
  if (auto ok = vcpu.set_msrs(msrs); !ok) return ok;
  if (auto ok = vcpu.set_fpu(state.fpu); !ok) return ok;
  // After the sregs (CR4.OSXSAVE) and the FPU, which KVM_SET_XSAVE's legacy
  // region overwrites with the same values.
  if (state.xcrs.nr_xcrs != 0) {
    if (auto ok = vcpu.set_xcrs(state.xcrs); !ok) return ok;
  }
  if (has_xsave_area(state)) {
    if (auto ok = vcpu.set_xsave(state.xsave); !ok) return ok;
  }
  // Only what was pending at the snapshot: nothing to inject, no NMI.
  kvm_vcpu_events events = state.events;
  events.flags = 0;
  if (auto ok = vcpu.set_events(events); !ok) return ok;
  return vcpu.set_regs(state.regs);
}

Result<void> reset_vcpu(Vcpu& vcpu, const VcpuState& state) {
  std::vector<kvm_msr_entry> msrs(kSavedMsrCount);
  for (std::size_t i = 0; i < kSavedMsrCount; ++i) {
    msrs[i].index = kSavedMsrs[i];
    msrs[i].data = state.msr_values[i];
  }
  // The kvmclock MSR's write makes KVM fill the pvclock page again, which the
  // reset may have given the snapshot's (another VM's) bytes.
  if (auto ok = vcpu.set_msrs(msrs); !ok) return ok;
  // The XSAVE area's legacy region is the FPU's: one call covers both.
  if (has_xsave_area(state)) {
    if (auto ok = vcpu.set_xsave(state.xsave); !ok) return ok;
  } else if (auto ok = vcpu.set_fpu(state.fpu); !ok) {
    return ok;
  }
  kvm_vcpu_events events = state.events;
  events.flags = 0;
  if (vcpu.stage_registers(state.regs, state.sregs, events)) return {};
  if (auto ok = vcpu.set_sregs(state.sregs); !ok) return ok;
  if (auto ok = vcpu.set_events(events); !ok) return ok;
  return vcpu.set_regs(state.regs);
}

}  // namespace hyperlet::snapshot
