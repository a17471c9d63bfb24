#include "kvm/kvm_stats.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/unique_fd.h"

namespace hyperlet {
namespace {

// C's sizeof(struct kvm_stats_desc) before the name; C++ sees the flexible array
// of Debian 12's header differently (as with kvm_cpuid2, see kvm.cpp).
constexpr std::size_t kDescriptorHeaderSize = 16;

}  // namespace

std::map<std::string, std::uint64_t> read_kvm_stats(int vm_or_vcpu_fd) {
  std::map<std::string, std::uint64_t> stats;
  UniqueFd fd(::ioctl(vm_or_vcpu_fd, KVM_GET_STATS_FD, nullptr));
  if (!fd.valid()) return stats;
  kvm_stats_header header{};
  if (::pread(fd.get(), &header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header))) return stats;
  const std::size_t descriptor_size = kDescriptorHeaderSize + header.name_size;
  std::vector<std::byte> descriptors(descriptor_size * header.num_desc);
  if (::pread(fd.get(), descriptors.data(), descriptors.size(), header.desc_offset) !=
      static_cast<ssize_t>(descriptors.size())) {
    return stats;
  }
  for (std::uint32_t i = 0; i < header.num_desc; ++i) {
    kvm_stats_desc descriptor{};
    const std::byte* raw = descriptors.data() + i * descriptor_size;
    std::memcpy(&descriptor, raw, kDescriptorHeaderSize);
    if ((descriptor.flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE || descriptor.size != 1) continue;
    const char* name = reinterpret_cast<const char*>(raw + kDescriptorHeaderSize);
    std::uint64_t value = 0;
    if (::pread(fd.get(), &value, sizeof(value), header.data_offset + descriptor.offset) !=
        static_cast<ssize_t>(sizeof(value))) {
      continue;
    }
    stats[std::string(name, strnlen(name, header.name_size))] = value;
  }
  return stats;
}

}  // namespace hyperlet
