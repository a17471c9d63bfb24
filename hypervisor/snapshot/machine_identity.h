// Who may restore a snapshot: the same CPU features as KVM offers them (the
// guest saw them and may use them) and the same guest kernel and vDSO (their
// memory is in the snapshot, the host must speak their language).
#pragma once

#include <linux/kvm.h>

#include <string>
#include <vector>

namespace hyperlet::snapshot {

std::string machine_identity(const std::vector<kvm_cpuid_entry2>& cpuid);

}  // namespace hyperlet::snapshot
