#include "snapshot/machine_identity.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "loader/kernel_image.h"
#include "loader/vdso_image.h"

namespace hyperlet::snapshot {

std::string machine_identity(const std::vector<kvm_cpuid_entry2>& cpuid) {
  const std::uint64_t cpu = XXH3_64bits(cpuid.data(), cpuid.size() * sizeof(kvm_cpuid_entry2));
  const auto kernel = embedded_guest_kernel();
  const auto vdso = embedded_vdso();
  const std::uint64_t guest = XXH3_64bits(kernel.data(), kernel.size()) ^ XXH3_64bits(vdso.data(), vdso.size());
  return fmt::format("cpu {:016x}, guest kernel {:016x}", cpu, guest);
}

}  // namespace hyperlet::snapshot
