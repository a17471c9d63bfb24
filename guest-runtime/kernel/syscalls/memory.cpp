// brk, mmap and friends for anonymous memory, and mmap of files.
//
// The host maps all of the app's memory present and writable before boot, so
// handing out memory is address arithmetic: brk grows up from the image, mmap
// hands out addresses downward from below the stack, and munmap'd ranges go on a
// small list of holes for reuse. Pages given back are discarded on the host
// (kDiscard), which both frees host memory and makes them read as zero again.
// Only PROT_NONE is enforced (by clearing the present bit), which is what guard
// pages need; every other protection maps read-write-execute.
//
// The address space can be larger than the app's memory (--memory, the
// budget): what counts against the budget is the heap and every mapped page
// that is accessible, so a PROT_NONE reservation (Go's heap metadata, glibc's
// thread arenas) costs only address space, and is charged page by page as the
// app makes parts of it usable. Absent pages are always mapped ones (unmapped
// ranges are kept present), so "charged" is "mapped and present" and needs no
// list of mappings: set_present's per-region counts answer it. When the
// address space is the memory (no --address-space), nothing is counted.
//
// A MAP_PRIVATE file mapping is anonymous memory filled with one pread64 from
// the host. A MAP_SHARED one is the host file's own pages: the host maps the
// file over the mapping's guest pages (kFileMapping), so every mapping of the
// file, pread/pwrite and other processes see the same bytes, and nothing is
// ever copied back. Touching a page past the file's end is a SIGBUS, as on Linux.
// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, MAP_SHARED of /dev/zero) is
// such a mapping of a fresh host file, so that a forked child shares it.
#include <linux/fcntl.h>
#include <linux/mman.h>

#include "../boot_info.h"
#include "../errno.h"
#include "../hypercall.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kPage = abi::kPageSize;
constexpr uint64_t kPresent = 1;
constexpr int kMaxHoles = 64;
// Kept free between the heap and the lowest mapping so a runaway brk cannot
// silently run into an mmap'd block.
constexpr uint64_t kHeapGap = 16 * kPage;

struct Range {
  uint64_t start;
  uint64_t end;
};

struct Arena {
  uint64_t brk;
  uint64_t mmap_low;  // everything in [mmap_low, mmap_top) is mapped or a hole
  int hole_count;
  Range holes[kMaxHoles];
};

Arena arena;

// What a vfork child and its parent's kernel tell each other (abi::VforkParentMemory).
volatile abi::VforkParentMemory& vfork_page() {
  return *reinterpret_cast<volatile abi::VforkParentMemory*>(abi::kVforkParentMemoryAddr);
}

// Bytes of the budget in use: the heap above heap_start, and the mapped,
// present pages of [mmap_low, mmap_top).
uint64_t charged;

// Where MAP_SHARED file mappings are (the host holds the files): mremap moves
// them on the host and msync asks the host only for them.
constexpr int kMaxSharedMaps = 256;

struct SharedMap {
  uint64_t start;
  uint64_t length;
};

SharedMap shared_maps[kMaxSharedMaps];
int shared_count;

int64_t host_call(uint64_t number, uint64_t a0, uint64_t a1, uint64_t a2 = 0, uint64_t a3 = 0) {
  const uint64_t args[6] = {a0, a1, a2, a3, 0, 0};
  return kernel_call_to_host(number, args);
}

int64_t file_mapping(abi::FileMappingOp op, uint64_t address, uint64_t length, uint64_t fd = 0, uint64_t offset = 0,
                     bool writable = false, uint64_t source = 0) {
  abi::FileMappingArgs& args = hypercall_args().file_mapping;
  args.op = op;
  args.writable = writable ? 1 : 0;
  args.address = address;
  args.length = length;
  args.fd = fd;
  args.offset = offset;
  args.source = source;
  args.result = 0;
  hypercall(abi::Hypercall::kFileMapping);
  return args.result;
}

bool overlaps_shared(uint64_t start, uint64_t end) {
  for (int i = 0; i < shared_count; ++i) {
    if (shared_maps[i].start < end && start < shared_maps[i].start + shared_maps[i].length) return true;
  }
  return false;
}

// [start, end) is no longer a shared file mapping: trim or drop entries.
void forget_shared(uint64_t start, uint64_t end) {
  for (int i = 0; i < shared_count;) {
    SharedMap& map = shared_maps[i];
    const uint64_t map_end = map.start + map.length;
    if (map_end <= start || map.start >= end) {
      ++i;
    } else if (map.start < start) {
      if (map_end > end && shared_count < kMaxSharedMaps) shared_maps[shared_count++] = SharedMap{end, map_end - end};
      map.length = start - map.start;
      ++i;
    } else if (map_end > end) {
      map.length = map_end - end;
      map.start = end;
      ++i;
    } else {
      shared_maps[i] = shared_maps[--shared_count];
    }
  }
}

int64_t remember_shared(uint64_t address, uint64_t length) {
  forget_shared(address, address + length);
  if (shared_count == kMaxSharedMaps) return error(ENOMEM);
  shared_maps[shared_count++] = SharedMap{address, length};
  return 0;
}

// A private mapping is a copy filled with one pread64; a shared one is the
// host file's own pages, mapped by the host over the fresh mapping's.
int64_t map_file(uint64_t address, uint64_t length, uint64_t prot, uint64_t flags, uint64_t fd, uint64_t offset) {
  if ((flags & MAP_TYPE) == MAP_SHARED) {
    // The host checks Linux's access rules on its side of the fd.
    const int64_t mapped =
        file_mapping(abi::FileMappingOp::kMap, address, length, fd, offset, (prot & PROT_WRITE) != 0);
    return mapped != 0 ? mapped : remember_shared(address, length);
  }
  // Linux's access rules: a file mapping needs a readable fd.
  const int64_t status = host_call(__NR_fcntl, fd, F_GETFL, 0);
  if (status < 0) return status;
  if ((status & O_ACCMODE) == O_WRONLY) return error(EACCES);
  const int64_t read = host_call(__NR_pread64, fd, address, length, offset);
  if (read < 0) return read == error(ESPIPE) || read == error(EISDIR) ? error(ENODEV) : read;
  return 0;
}

// Shared anonymous memory is a host file's too, so that a forked child shares
// it (abi::FileMappingOp::kShareAnonymous); within one process it is what a
// private mapping would be.
int64_t map_shared_anonymous(uint64_t address, uint64_t length) {
  const int64_t mapped = file_mapping(abi::FileMappingOp::kShareAnonymous, address, length);
  return mapped != 0 ? mapped : remember_shared(address, length);
}

uint64_t page_up(uint64_t value) { return (value + kPage - 1) & ~(kPage - 1); }

void discard(uint64_t address, uint64_t length) {
  if (length == 0) return;
  abi::DiscardArgs& args = hypercall_args().discard;
  args.address = address;
  args.length = length;
  hypercall(abi::Hypercall::kDiscard);
}

constexpr uint64_t kRegion = 2ull << 20;
constexpr uint64_t kLeafFlags = 0x67;  // present, writable, user, accessed, dirty
constexpr uint64_t kAddressMask = 0x000ffffffffff000;
constexpr uint64_t kTableFlags = 0x27;  // present, writable, user, accessed

void reload_page_tables() {
  uint64_t cr3;
  asm volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

// The host maps uniform 2 MiB regions with one large PDE. Changing one page of
// such a region first gives it its own 4 KiB table (the page is reserved for it).
volatile uint64_t& page_table_entry(uint64_t page) {
  auto* ptes = reinterpret_cast<volatile uint64_t*>(boot_info().pte_base);
  auto* pdes = reinterpret_cast<volatile uint64_t*>(boot_info().pde_base);
  volatile uint64_t& pde = pdes[page / kRegion];
  if ((pde & abi::kPdeLargePage) != 0) {
    const uint64_t region = page & ~(kRegion - 1);
    const uint64_t flags = pde & kLeafFlags;  // absent if the whole region was (set_present)
    volatile uint64_t* table = &ptes[region / kPage];
    for (uint64_t i = 0; i < kRegion / kPage; ++i) table[i] = (region + i * kPage) | flags;
    pde = reinterpret_cast<uint64_t>(table) | kTableFlags;
    reload_page_tables();  // drop the large TLB entry
  } else if ((pde & kPresent) == 0 && (pde & kAddressMask) != 0) {
    // A region set_present made absent at its PDE: now its pages are absent one by one.
    volatile uint64_t* table = &ptes[(page & ~(kRegion - 1)) / kPage];
    for (uint64_t i = 0; i < kRegion / kPage; ++i) table[i] = table[i] & ~kPresent;
    pde = pde | kPresent;
  }
  return ptes[page / kPage];
}

// Not-present pages per 2 MiB region (guest memory is at most 16 GiB), so that
// making a large range present again (munmap, mprotect) skips the regions that
// have none: a multi-threaded glibc app munmaps 64 MiB arena reservations.
constexpr uint64_t kMaxRegions = (16ull << 30) / kRegion;
uint16_t region_protected[kMaxRegions];

void set_present(uint64_t address, uint64_t length, bool present) {
  const uint64_t end = address + length;
  auto* pdes = reinterpret_cast<volatile uint64_t*>(boot_info().pde_base);
  bool flush_all = false;
  bool changed = false;
  for (uint64_t page = address; page < end;) {
    const uint64_t region = page / kRegion;
    if (present && region_protected[region] == 0) {
      page = (region + 1) * kRegion;
      continue;
    }
    // A whole region whose pages are all present, or all absent at its PDE:
    // the PDE alone changes (its 4 KiB entries, if it has them, stay present
    // underneath). glibc makes each new thread's 8 MiB stack PROT_NONE and then
    // read-write again: page by page that was ~4,100 PTE writes and invlpgs,
    // ~180 ms here for an app's first thread.
    volatile uint64_t& pde = pdes[region];
    constexpr uint64_t kRegionPages = kRegion / kPage;
    const bool whole_region = page % kRegion == 0 && end - page >= kRegion;
    const bool pde_present = (pde & kPresent) != 0;
    const bool large = (pde & abi::kPdeLargePage) != 0;
    const bool flippable =
        large || (pde_present ? region_protected[region] == 0 : region_protected[region] == kRegionPages);
    if (whole_region && flippable && (pde & kAddressMask) != 0) {
      if (pde_present != present) {
        changed = true;
        pde = present ? (pde | kPresent) : (pde & ~kPresent);
        protected_pages += present ? -kRegionPages : kRegionPages;
        region_protected[region] = present ? 0 : static_cast<uint16_t>(kRegionPages);
        if (large) {
          asm volatile("invlpg (%0)" : : "r"(page) : "memory");
        } else {
          flush_all = true;  // the region's 4 KiB translations may be cached
        }
      }
      page += kRegion;
      continue;
    }
    volatile uint64_t& pte = page_table_entry(page);
    const bool was_present = (pte & kPresent) != 0;
    if (was_present != present) {
      changed = true;
      pte = present ? (pte | kPresent) : (pte & ~kPresent);
      protected_pages += present ? -1ull : 1ull;
      region_protected[region] = static_cast<uint16_t>(region_protected[region] + (present ? -1 : 1));
      asm volatile("invlpg (%0)" : : "r"(page) : "memory");
    }
    page += kPage;
  }
  if (flush_all) reload_page_tables();
  // Other vCPUs may hold translations of what became absent (smp.h).
  if (!present && changed) tlb_shootdown();
}

// Whether --memory is less than the address space: then the budget binds
// before the address space runs out, and must see every reservation.
// Without it nothing is counted: the address space is the limit, and
// munmap and mprotect skip reading the page tables (~0.3 µs per emulated
// instruction on kvm_pvm). Set at boot (init_memory).
bool separate_budget;

bool budget_is_separate() { return separate_budget; }

// A PROT_NONE mapping is absent: what the budget does not pay for must not be
// touchable. Large ones are region-aligned (allocate_region_aligned_end) and
// flip whole regions' PDEs, ~10 emulated instructions per 2 MiB; but making
// part of one usable splits its region into 512 entries (~1.5 ms on kvm_pvm),
// which glibc does for each thread arena it reserves (64 MiB and more). So when
// the address space is the memory (no --address-space), where nothing beyond
// the address space needs paying for, reservations above 16 MiB stay present,
// as before budgets: an app can touch them, as it can any unmapped range.
constexpr uint64_t kLargestEnforcedNone = 16ull << 20;

bool enforced_none(uint64_t length) { return length <= kLargestEnforcedNone || budget_is_separate(); }

void apply_protection(uint64_t address, uint64_t length, uint64_t prot) {
  if (prot == PROT_NONE) {
    if (enforced_none(length)) set_present(address, length, false);
  } else if (protected_pages != 0) {
    set_present(address, length, true);
  }
}

void remove_hole(int index) {
  for (int i = index; i + 1 < arena.hole_count; ++i) arena.holes[i] = arena.holes[i + 1];
  --arena.hole_count;
}

// Takes [start, end) out of the hole list (it is becoming a mapping).
void claim_from_holes(uint64_t start, uint64_t end) {
  for (int i = 0; i < arena.hole_count;) {
    Range& hole = arena.holes[i];
    if (hole.end <= start || hole.start >= end) {
      ++i;
      continue;
    }
    if (hole.start < start && hole.end > end && arena.hole_count < kMaxHoles) {
      arena.holes[arena.hole_count++] = Range{end, hole.end};
      hole.end = start;
      ++i;
    } else if (hole.start < start) {
      hole.end = start;
      ++i;
    } else if (hole.end > end) {
      hole.start = end;
      ++i;
    } else {
      remove_hole(i);
    }
  }
}

void add_hole(uint64_t start, uint64_t end) {
  if (start == arena.mmap_low) {
    arena.mmap_low = end;
  } else {
    for (int i = 0; i < arena.hole_count; ++i) {
      Range& hole = arena.holes[i];
      if (hole.end == start) {
        hole.end = end;
        return;
      }
      if (hole.start == end) {
        hole.start = start;
        return;
      }
    }
    // A full list leaks the range for reuse; its host memory is still discarded.
    if (arena.hole_count < kMaxHoles) arena.holes[arena.hole_count++] = Range{start, end};
    return;
  }
  // The bump region grew back up: absorb holes that now touch it.
  for (bool merged = true; merged;) {
    merged = false;
    for (int i = 0; i < arena.hole_count; ++i) {
      if (arena.holes[i].start == arena.mmap_low) {
        arena.mmap_low = arena.holes[i].end;
        remove_hole(i);
        merged = true;
        break;
      }
    }
  }
}

uint64_t heap_limit() { return page_up(arena.brk) + kHeapGap; }

uint64_t memory_budget() {
  const uint64_t budget = boot_info().memory_budget;
  return budget != 0 ? budget : boot_info().mmap_top - boot_info().heap_start;
}

bool within_budget(uint64_t more) {
  return !separate_budget || (more <= memory_budget() && charged <= memory_budget() - more);
}

// Published for --stats on the status page.
void publish_charge() {
  auto& status = *reinterpret_cast<volatile abi::GuestStatus*>(abi::kGuestStatusAddr);
  status.memory_charged = charged;
  if (charged > status.memory_charged_peak) status.memory_charged_peak = charged;
}

void charge(uint64_t bytes) {
  if (!separate_budget) return;
  charged += bytes;
  publish_charge();
}

void refund(uint64_t bytes) {
  if (!separate_budget) return;
  charged = bytes < charged ? charged - bytes : 0;
  publish_charge();
}

// Present pages of [start, end) (page-aligned), from the per-region counts;
// only regions with some pages absent and some present are read entry by entry.
uint64_t present_pages(uint64_t start, uint64_t end) {
  const auto* ptes = reinterpret_cast<const volatile uint64_t*>(boot_info().pte_base);
  uint64_t count = 0;
  for (uint64_t page = start; page < end;) {
    const uint64_t region = page / kRegion;
    const uint64_t region_end = (region + 1) * kRegion < end ? (region + 1) * kRegion : end;
    if (region_protected[region] == 0) {
      count += (region_end - page) / kPage;
    } else if (region_protected[region] < kRegion / kPage) {
      for (uint64_t p = page; p < region_end; p += kPage) count += ptes[p / kPage] & kPresent;
    }
    page = region_end;
  }
  return count;
}

// [start, end) cut to the mmap region, where everything the budget counts
// besides the heap lies; false when nothing of it is left.
bool clip_to_mmap_region(uint64_t& start, uint64_t& end) {
  if (start < arena.mmap_low) start = arena.mmap_low;
  if (end > boot_info().mmap_top) end = boot_info().mmap_top;
  return start < end;
}

// Bytes of [start, end) that the budget pays for: mapped (in the mmap region,
// not a hole) and present.
uint64_t charged_bytes(uint64_t start, uint64_t end) {
  if (!separate_budget || !clip_to_mmap_region(start, end)) return 0;
  uint64_t bytes = present_pages(start, end) * kPage;
  for (int i = 0; i < arena.hole_count; ++i) {
    const uint64_t from = arena.holes[i].start > start ? arena.holes[i].start : start;
    const uint64_t to = arena.holes[i].end < end ? arena.holes[i].end : end;
    if (from < to) bytes -= bytes < to - from ? bytes : to - from;
  }
  return bytes;
}

// Bytes of [start, end) in the mmap region that are absent: PROT_NONE mappings,
// which making them accessible charges.
uint64_t absent_bytes(uint64_t start, uint64_t end) {
  if (!separate_budget || !clip_to_mmap_region(start, end)) return 0;
  return (end - start) - present_pages(start, end) * kPage;
}

// No room for `length` bytes the app meant to use: the host names it in the
// crash or abort line that usually follows (std::bad_alloc, a null malloc).
// Reservations (PROT_NONE) do not count: glibc probes for arena space that way.
int64_t out_of_memory(uint64_t length) {
  auto& status = *reinterpret_cast<volatile abi::GuestStatus*>(abi::kGuestStatusAddr);
  status.failed_allocations = status.failed_allocations + 1;
  if (length > status.largest_failed) status.largest_failed = length;
  return error(ENOMEM);
}

uint64_t allocate(uint64_t length) {
  for (int i = 0; i < arena.hole_count; ++i) {
    Range& hole = arena.holes[i];
    if (hole.end - hole.start >= length) {
      hole.end -= length;
      const uint64_t result = hole.end;
      if (hole.start == hole.end) remove_hole(i);
      return result;
    }
  }
  if (arena.mmap_low < length || arena.mmap_low - length < heap_limit()) return 0;
  arena.mmap_low -= length;
  return arena.mmap_low;
}

// A PROT_NONE mapping of a region or more ends on a region boundary, so that
// set_present can flip whole regions' large PDEs; the piece skipped above it
// becomes a hole for later mappings.
uint64_t allocate_region_aligned_end(uint64_t length) {
  const uint64_t end = arena.mmap_low & ~(kRegion - 1);
  if (end < length || end - length < heap_limit() || arena.hole_count == kMaxHoles) return allocate(length);
  if (end != arena.mmap_low) arena.holes[arena.hole_count++] = Range{end, arena.mmap_low};
  arena.mmap_low = end - length;
  return arena.mmap_low;
}

bool claim_fixed(uint64_t address, uint64_t length) {
  if (!user_range_mappable(address, length) || address < heap_limit()) return false;
  const uint64_t end = address + length;
  if (end > boot_info().mmap_top) return false;
  if (address >= arena.mmap_low) {
    claim_from_holes(address, end);
    return true;
  }
  if (end < arena.mmap_low) {
    if (arena.hole_count == kMaxHoles) return false;
    arena.holes[arena.hole_count++] = Range{end, arena.mmap_low};
  } else {
    claim_from_holes(arena.mmap_low, end);
  }
  arena.mmap_low = address;
  return true;
}

// [mmap_low, mmap_top) is user memory: mmap_low never goes below heap_limit().
bool in_mmap_region(uint64_t address, uint64_t length) {
  return range_within(address, length, arena.mmap_low, boot_info().mmap_top);
}

// Whether every page of [address, address + length) is present or, with
// `present` false, every one is absent (a PROT_NONE mapping).
bool pages_all(uint64_t address, uint64_t length, bool present) {
  const auto* ptes = reinterpret_cast<const volatile uint64_t*>(boot_info().pte_base);
  const auto* pdes = reinterpret_cast<const volatile uint64_t*>(boot_info().pde_base);
  for (uint64_t page = address & ~(kPage - 1); page < address + length;) {
    const uint64_t pde = pdes[page / kRegion];
    if ((pde & kPresent) == 0 || (pde & abi::kPdeLargePage) != 0) {
      if (((pde & kPresent) != 0) != present) return false;
      page = (page & ~(kRegion - 1)) + kRegion;
      continue;
    }
    if (((ptes[page / kPage] & kPresent) != 0) != present) return false;
    page += kPage;
  }
  return true;
}

}  // namespace

uint64_t protected_pages;

bool in_shared_mapping(uint64_t address) { return shared_count != 0 && overlaps_shared(address, address + 1); }

bool user_pages_present(uint64_t address, uint64_t length) { return pages_all(address, length, true); }

MemoryUse memory_use() {
  uint64_t used = charged;
  if (!separate_budget) {
    // No budget of its own: the heap and the mapped range, less the holes in it.
    used = (arena.brk - boot_info().heap_start) + (boot_info().mmap_top - arena.mmap_low);
    for (int i = 0; i < arena.hole_count; ++i) used -= arena.holes[i].end - arena.holes[i].start;
  }
  const uint64_t total = memory_budget();
  return MemoryUse{total, used < total ? used : total};
}

void init_memory() {
  arena.brk = boot_info().heap_start;
  vfork_page().heap_end = arena.brk;
  arena.mmap_low = boot_info().mmap_top;
  protected_pages = 0;
  arena.hole_count = 0;
  charged = 0;
  const uint64_t budget = boot_info().memory_budget;
  separate_budget = budget != 0 && budget < boot_info().mmap_top - boot_info().heap_start;
  reinterpret_cast<volatile abi::GuestStatus*>(abi::kGuestStatusAddr)->memory_charged_peak = 0;  // after an execve
  publish_charge();
}

void describe_free_memory_for_vfork() {
  static_assert(kMaxHoles <= abi::kVforkHolesMax, "the vfork page holds every hole");
  volatile abi::VforkParentMemory& page = vfork_page();
  page.parent_brk = arena.brk;
  page.mappings_low = arena.mmap_low;
  for (int i = 0; i < arena.hole_count; ++i) {
    page.holes[i].start = arena.holes[i].start;
    page.holes[i].end = arena.holes[i].end;
  }
  page.hole_count = static_cast<uint32_t>(arena.hole_count);
}

void prepare_for_vfork() { vfork_page().adopt_brk = 0; }

void adopt_heap_of_vfork_child() {
  const uint64_t child_brk = vfork_page().adopt_brk;
  vfork_page().adopt_brk = 0;
  if (child_brk != 0 && child_brk != arena.brk) sys_brk(child_brk);
}

int64_t sys_brk(uint64_t address) {
  // Linux answers the current break to a request it cannot meet (brk(0), below
  // the heap, into the mappings, wild values such as ~0 that would wrap).
  const uint64_t heap_start = boot_info().heap_start;
  if (address < heap_start || !in_user_space(heap_start, address - heap_start)) {
    return static_cast<int64_t>(arena.brk);
  }
  const uint64_t new_end = page_up(address);  // cannot wrap: address is below page_tables_base
  if (new_end > arena.mmap_low || arena.mmap_low - new_end < kHeapGap) return static_cast<int64_t>(arena.brk);
  const uint64_t old_end = page_up(arena.brk);
  if (new_end > old_end && !within_budget(new_end - old_end)) return static_cast<int64_t>(arena.brk);
  // Memory brk hands out again must read as zero (glibc's malloc relies on it).
  if (new_end < old_end) discard(new_end, old_end - new_end);
  if (new_end > old_end) charge(new_end - old_end);
  if (new_end < old_end) refund(old_end - new_end);
  arena.brk = address;
  vfork_page().heap_end = arena.brk;
  return static_cast<int64_t>(arena.brk);
}

int64_t sys_mmap(uint64_t address, uint64_t length, uint64_t prot, uint64_t flags, uint64_t fd, uint64_t offset) {
  if (length == 0) return error(EINVAL);
  if (!round_up_to_pages(length)) return error(ENOMEM);
  const bool file = (flags & MAP_ANONYMOUS) == 0;
  if (file && (offset & (kPage - 1)) != 0) return error(EINVAL);
  const uint64_t type = flags & MAP_TYPE;
  if (type != MAP_PRIVATE && type != MAP_SHARED) return error(EINVAL);
  uint64_t result = 0;
  const uint64_t cost = prot == PROT_NONE ? 0 : length;
  if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0) {
    if ((address & (kPage - 1)) != 0) return error(EINVAL);
    if (!user_range_mappable(address, length)) return error(ENOMEM);
    // What the fixed mapping replaces stops being paid for.
    const uint64_t replaced = charged_bytes(address, address + length);
    if (!within_budget(cost > replaced ? cost - replaced : 0)) return out_of_memory(length);
    if (!claim_fixed(address, length)) return error(ENOMEM);
    refund(replaced);
    discard(address, length);  // a fixed mapping replaces what was there with zeros
    result = address;
  } else {
    if (!within_budget(cost)) return out_of_memory(length);
    const bool aligned = prot == PROT_NONE && length >= kRegion && enforced_none(length);
    result = aligned ? allocate_region_aligned_end(length) : allocate(length);
    if (result == 0) return prot == PROT_NONE ? error(ENOMEM) : out_of_memory(length);
  }
  charge(cost);
  if (file || type == MAP_SHARED) {
    const int64_t filled =
        file ? map_file(result, length, prot, flags, fd, offset) : map_shared_anonymous(result, length);
    if (filled != 0) {
      // sys_munmap pays back what is mapped and present: all of it, so first
      // make all of it present and paid for.
      if (protected_pages != 0) set_present(result, length, true);
      charge(length - cost);
      sys_munmap(result, length);
      return filled;
    }
  }
  apply_protection(result, length, prot);
  return static_cast<int64_t>(result);
}

int64_t sys_munmap(uint64_t address, uint64_t length) {
  if ((address & (kPage - 1)) != 0 || length == 0 || !round_up_to_pages(length)) return error(EINVAL);
  if (!user_range_mappable(address, length)) return error(EINVAL);
  if (!in_mmap_region(address, length)) return 0;  // nothing of ours is mapped there
  if (shared_count != 0) forget_shared(address, address + length);
  refund(charged_bytes(address, address + length));
  discard(address, length);  // the host forgets its file mappings there too
  if (protected_pages != 0) set_present(address, length, true);
  add_hole(address, address + length);
  return 0;
}

int64_t sys_msync(uint64_t address, uint64_t length, uint64_t flags) {
  if ((address & (kPage - 1)) != 0 || (flags & ~uint64_t{MS_ASYNC | MS_SYNC | MS_INVALIDATE}) != 0 ||
      (flags & (MS_ASYNC | MS_SYNC)) == (MS_ASYNC | MS_SYNC)) {
    return error(EINVAL);
  }
  if (!round_up_to_pages(length) || !user_range_ok(address, length)) return error(ENOMEM);
  // Stores through a shared mapping are already the file's page cache; MS_SYNC
  // also puts them on the storage, as Linux does.
  if (!overlaps_shared(address, address + length)) return 0;
  return file_mapping(abi::FileMappingOp::kSync, address, length);
}

int64_t sys_mprotect(uint64_t address, uint64_t length, uint64_t prot) {
  if ((address & (kPage - 1)) != 0) return error(EINVAL);
  // PROT_NONE pages (a thread stack's guard, a reservation) may be made usable again.
  if (!round_up_to_pages(length) || !user_range_mappable(address, length)) return error(ENOMEM);
  if (prot != PROT_NONE && protected_pages == 0) return 0;
  if (prot == PROT_NONE) {
    refund(charged_bytes(address, address + length));
  } else {
    // Part of a reservation becoming usable is paid for now (Go, glibc's arenas).
    const uint64_t more = absent_bytes(address, address + length);
    if (!within_budget(more)) return out_of_memory(more);
    charge(more);
  }
  set_present(address, length, prot != PROT_NONE);
  return 0;
}

int64_t sys_mremap(uint64_t old_address, uint64_t old_length, uint64_t new_length, uint64_t flags,
                   uint64_t new_address) {
  (void)new_address;
  if ((old_address & (kPage - 1)) != 0 || new_length == 0) return error(EINVAL);
  if ((flags & MREMAP_FIXED) != 0) return error(EINVAL);
  if (!round_up_to_pages(old_length) || !round_up_to_pages(new_length)) return error(EINVAL);
  if (!in_mmap_region(old_address, old_length)) return error(EFAULT);
  if (new_length <= old_length) {
    sys_munmap(old_address + new_length, old_length - new_length);
    return static_cast<int64_t>(old_address);
  }
  if ((flags & MREMAP_MAYMOVE) == 0) return error(ENOMEM);
  // The move copies the old pages in ring 0, so they must be present. Linux
  // moves one mapping at a time: a range mixing PROT_NONE and accessible pages
  // spans several and is EFAULT; a wholly PROT_NONE one moves and stays so.
  const bool accessible = user_range_ok(old_address, old_length);
  if (!accessible && !pages_all(old_address, old_length, false)) return error(EFAULT);
  // The old pages are paid for until the move ends: only the growth must fit.
  if (accessible && !within_budget(new_length - old_length)) return out_of_memory(new_length);
  const uint64_t moved = allocate(new_length);
  if (moved == 0) return accessible ? out_of_memory(new_length) : error(ENOMEM);
  if (accessible) charge(new_length);
  if (accessible && overlaps_shared(old_address, old_address + 1)) {
    // A shared file mapping moves as the file's pages, not as a copy of them:
    // stores after the move still reach the file.
    int64_t remapped = file_mapping(abi::FileMappingOp::kMove, moved, new_length, 0, 0, false, old_address);
    if (remapped == 0) remapped = remember_shared(moved, new_length);
    if (remapped != 0) {
      sys_munmap(moved, new_length);
      return remapped;
    }
    sys_munmap(old_address, old_length);
    return static_cast<int64_t>(moved);
  }
  if (!accessible) {
    set_present(old_address, old_length, true);
    charge(old_length);  // for the moment it is present: sys_munmap below pays it back
  }
  __builtin_memcpy(reinterpret_cast<void*>(moved), reinterpret_cast<const void*>(old_address), old_length);
  sys_munmap(old_address, old_length);
  if (!accessible) apply_protection(moved, new_length, PROT_NONE);
  return static_cast<int64_t>(moved);
}

int64_t sys_madvise(uint64_t address, uint64_t length, uint64_t advice) {
  if ((address & (kPage - 1)) != 0 || !round_up_to_pages(length)) return error(EINVAL);
  if (!user_range_mappable(address, length)) return error(ENOMEM);
  if (advice != MADV_DONTNEED && advice != MADV_FREE) return 0;
  // Linux drops a shared file mapping's pages too, but they read as the file
  // again, which they are here already: only the rest is discarded (zeros).
  uint64_t start = address;
  const uint64_t end = address + length;
  while (start < end) {
    uint64_t piece_end = end;
    for (int i = 0; i < shared_count; ++i) {
      const SharedMap& map = shared_maps[i];
      if (map.start <= start && start < map.start + map.length) {
        start = map.start + map.length;
        piece_end = start;
        break;
      }
      if (map.start > start && map.start < piece_end) piece_end = map.start;
    }
    if (start < piece_end) discard(start, piece_end - start);
    start = piece_end > start ? piece_end : start;
  }
  return 0;
}

}  // namespace hyperlet::kernel
