#include "vm/vcpu_identity.h"

#include <algorithm>
#include <iterator>

namespace hyperlet {
namespace {

constexpr std::uint32_t kMsrLstar = 0xc0000082;
constexpr std::uint32_t kMsrKvmSystemTimeNew = 0x4b564d01;

std::size_t saved_msr_slot(std::uint32_t index) {
  const auto* found = std::find(std::begin(snapshot::kSavedMsrs), std::end(snapshot::kSavedMsrs), index);
  return static_cast<std::size_t>(found - std::begin(snapshot::kSavedMsrs));
}

}  // namespace

Result<VcpuIdentity> read_vcpu_identity(const Vcpu& vcpu) {
  auto sregs = vcpu.sregs();
  if (!sregs) return std::unexpected(sregs.error());
  auto msrs = vcpu.msrs({kMsrLstar, kMsrKvmSystemTimeNew});
  if (!msrs) return std::unexpected(msrs.error());
  return VcpuIdentity{sregs->tr, (*msrs)[0].data, (*msrs)[1].data};
}

void give_vcpu_identity(snapshot::VcpuState& state, const VcpuIdentity& identity) {
  static_assert(std::size(snapshot::kSavedMsrs) > 0);
  state.sregs.tr = identity.task_register;
  state.msr_values[saved_msr_slot(kMsrLstar)] = identity.syscall_entry;
  state.msr_values[saved_msr_slot(kMsrKvmSystemTimeNew)] = identity.kvmclock;
}

}  // namespace hyperlet
