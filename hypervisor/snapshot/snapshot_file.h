// The snapshot file: a microVM's whole state at one moment, written by
// `hyperlet snapshot` and continued from by `hyperlet run --restore`.
//
//   [0, 4096)        FileHeader: magic, versions, the machine it belongs to,
//                    and the offset, size and XXH3 checksum of every section
//   vcpu section     VcpuState (registers, FPU and XSAVE state, events, MSRs,
//                    kvmclock)
//   host section     JSON: the host's side of the app (layout, fds, sockets...)
//   runs section     PageRun[]: which guest pages follow, in order
//   pages            the guest pages themselves, 4 KiB aligned in the file, so
//                    that a restore maps them copy-on-write (MAP_PRIVATE) and
//                    concurrent restores of one file share every page they
//                    do not write
//
// Everything is checked before anything is restored: a wrong magic or version,
// a section outside the file, a checksum that does not match, runs outside
// guest memory, or another machine's snapshot each end with one line.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/mapping.h"
#include "core/unique_fd.h"
#include "kvm/kvm.h"
#include "snapshot/checked_snapshots.h"

namespace hyperlet {

class GuestMemory;

namespace snapshot {

inline constexpr char kMagic[8] = {'H', 'L', 'S', 'N', 'A', 'P', 'S', 'H'};
// 2: VcpuState keeps the XSAVE area and XCR0.
inline constexpr std::uint32_t kFormatVersion = 2;
inline constexpr std::uint64_t kPage = 4096;

// The MSRs a snapshot keeps besides what KVM_GET_SREGS has (EFER, segment bases):
// the syscall MSRs, swapgs' base and kvmclock's page.
inline constexpr std::uint32_t kSavedMsrs[] = {0xc0000081, 0xc0000082, 0xc0000084, 0xc0000102, 0x4b564d01};
inline constexpr std::size_t kSavedMsrCount = std::size(kSavedMsrs);

struct VcpuState {
  kvm_regs regs;
  kvm_sregs sregs;
  kvm_fpu fpu;
  kvm_vcpu_events events;
  std::uint64_t msr_values[kSavedMsrCount];
  std::uint64_t kvmclock_ns;
  // Where the guest ran with CR4.OSXSAVE (XSAVE offered: hardware KVM), XCR0
  // and the whole XSAVE area, whose ymm upper halves `fpu` lacks; elsewhere
  // xcrs.nr_xcrs is 0, and the area is KVM's all the same where KVM_GET_XSAVE
  // works (kvm_pvm: the app's AVX state under the host's XCR0), else all zero. A snapshot restores only on a
  // machine with the same CPUID (machine_identity), so the area's layout
  // (CPUID leaf 0xD) is the same there.
  kvm_xcrs xcrs;
  XsaveArea xsave;
};

struct PageRun {
  std::uint64_t first_page;  // guest-physical page number
  std::uint64_t page_count;
};

struct Section {
  std::uint64_t offset;
  std::uint64_t size;
  std::uint64_t checksum;  // XXH3-64 of the section's bytes
};

struct FileHeader {
  char magic[8];
  std::uint32_t format_version;
  std::uint32_t abi_version;
  std::uint64_t memory_size;
  char machine[64];  // NUL-terminated: who may restore it (see machine_identity)
  Section vcpu;
  Section host;
  Section runs;
  Section pages;
  std::uint64_t header_checksum;  // XXH3-64 of every byte before this field
};

// What a snapshot holds besides the page data.
struct Contents {
  std::uint64_t memory_size = 0;
  std::string machine;
  VcpuState vcpu{};
  nlohmann::json host;
  std::vector<PageRun> runs;
};

// The resident pages of guest memory as runs (pages never touched, or given
// back, read as zero and are not stored).
std::vector<PageRun> resident_runs(const GuestMemory& memory);

// Writes the snapshot to `path` (through a temporary file renamed into place, so
// a reader never sees half of one), the page data taken from `memory`.
Result<void> write(const std::string& path, const Contents& contents, const GuestMemory& memory);

// An opened and fully checked snapshot.
class File {
 public:
  // `machine`: this machine's identity; a snapshot of another is refused (empty:
  // checked later, by whoever restores it). `checked`: files whose pages need
  // not be hashed again (checked_snapshots.h); this one is added once they matched.
  static Result<File> open(const std::string& path, const std::string& machine,
                           const CheckedSnapshots* checked = nullptr);
  const std::string& path() const { return path_; }
  const Contents& contents() const { return contents_; }
  // Whether open() hashed the page data (false: `checked` knew this file).
  bool pages_hashed() const { return pages_hashed_; }
  // Maps every stored page copy-on-write over guest memory.
  Result<void> map_pages(GuestMemory& memory) const;
  // Where in the file the first page run's bytes begin (the rest follow in order).
  std::uint64_t pages_offset() const { return pages_offset_; }

  // For resetting VMs to this snapshot (reset_pages): maps the page data
  // read-only once, shared by every VM restored from this File.
  Result<void> prepare_reset();
  bool ready_for_reset() const { return pristine_.data() != nullptr || contents_.runs.empty(); }
  // Gives each page set in `guest_written` or `host_touched` (bitmaps, bit i =
  // page i) the snapshot's bytes again, or zeros where the snapshot has none.
  // Pages only the host touched are compared first: one it only read stays
  // shared with the file. Returns how many pages were written.
  std::uint64_t reset_pages(GuestMemory& memory, std::span<const std::uint64_t> guest_written,
                            std::span<const std::uint64_t> host_touched) const;

 private:
  static constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};
  std::string path_;
  UniqueFd fd_;
  Contents contents_;
  std::uint64_t pages_offset_ = 0;
  bool pages_hashed_ = false;
  Mapping pristine_;                       // the page data, read-only
  std::vector<std::uint32_t> page_slots_;  // guest page -> its page in pristine_, or kNoSlot
};

}  // namespace snapshot
}  // namespace hyperlet
