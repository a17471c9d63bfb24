// Fuzz target: a hostile snapshot file, as `hyperlet run --restore` and the
// embedding API (include/hyperlet/host.h) read it without KVM: the header, the
// sections, the page runs, the copy-on-write mapping of the pages over guest
// memory, the reset's read-only page map, and the host state's fd table
// restored into an app's files (snapshot/host_state.h).
//
// Checksums guard every section, so random bytes would stop at the first one.
// Unless the input's first byte is 'R' (raw), the target makes the header's and
// each in-bounds section's checksums match before it opens the file: what
// follows the checksums (the sizes, offsets, runs, JSON) is what a hostile
// writer of a well-formed file controls.
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "fuzz_target.h"
#include "memory/guest_memory.h"
#include "snapshot/host_state.h"
#include "snapshot/snapshot_file.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

constexpr char kMachine[] = "fuzz machine";
// Larger snapshots are valid, but mapping them per input would only slow the fuzzer.
constexpr std::uint64_t kLargestMemory = 256ull << 20;

class FuzzGuest : public TestGuest {
 public:
  using TestGuest::context_;
  using TestGuest::mount_temp_volume;
};

void fix_checksum(std::vector<std::uint8_t>& file, snapshot::Section& section) {
  if (section.offset <= file.size() && section.size <= file.size() - section.offset) {
    section.checksum = XXH3_64bits(file.data() + section.offset, section.size);
  }
}

void fix_checksums(std::vector<std::uint8_t>& file) {
  snapshot::FileHeader header;
  if (file.size() < sizeof header) return;
  std::memcpy(&header, file.data(), sizeof header);
  fix_checksum(file, header.vcpu);
  fix_checksum(file, header.host);
  fix_checksum(file, header.runs);
  fix_checksum(file, header.pages);
  header.header_checksum = XXH3_64bits(&header, offsetof(snapshot::FileHeader, header_checksum));
  std::memcpy(file.data(), &header, sizeof header);
}

void use(snapshot::File& file) {
  const snapshot::Contents& contents = file.contents();
  if (contents.memory_size <= kLargestMemory) {
    if (auto memory = GuestMemory::create(contents.memory_size)) {
      if (file.map_pages(*memory) && file.prepare_reset()) {
        const std::vector<std::uint64_t> all((contents.memory_size / 4096 + 63) / 64, ~std::uint64_t{0});
        file.reset_pages(*memory, all, {});
      }
    }
  }
  if (contents.host.is_object() && contents.host.contains("files")) {
    FuzzGuest guest;
    guest.mount_temp_volume("hyperlet-fuzz-restore");
    (void)snapshot::restore_files(*guest.context_, contents.host.at("files"));
  }
}

}  // namespace
}  // namespace hyperlet

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hyperlet;
  std::vector<std::uint8_t> file(data, data + size);
  if (file.empty() || file[0] != 'R') fix_checksums(file);
  UniqueFd fd(::memfd_create("fuzz-snapshot", MFD_CLOEXEC));
  if (!fd.valid()) fuzz::fuzz_failure("memfd_create failed");
  for (std::size_t done = 0; done < file.size();) {
    const ssize_t wrote = ::write(fd.get(), file.data() + done, file.size() - done);
    if (wrote <= 0) fuzz::fuzz_failure("writing the memfd failed");
    done += static_cast<std::size_t>(wrote);
  }
  auto opened = snapshot::File::open("/proc/self/fd/" + std::to_string(fd.get()), kMachine);
  if (opened) use(*opened);
  return 0;
}
