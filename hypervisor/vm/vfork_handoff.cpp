#include "vm/vfork_handoff.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "memory/guest_memory.h"

namespace hyperlet {
namespace {

constexpr std::uint64_t kPage = 4096;

// /proc/PID/pagemap, one 64-bit entry per page (Documentation/admin-guide/mm/pagemap.rst).
constexpr std::uint64_t kPagemapPresent = 1ull << 63;
constexpr std::uint64_t kPagemapFileOrSharedAnon = 1ull << 61;
constexpr std::uint64_t kPagemapExclusive = 1ull << 56;

// One page of the message: its guest address and what follows.
enum class RecordKind : std::uint32_t { kData = 1, kZero = 2, kEnd = 3, kHeapEnd = 4 };
struct Record {
  std::uint64_t address;
  RecordKind kind;
  std::uint32_t reserved;
};

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const std::byte*>(data);
  while (size > 0) {
    const ssize_t wrote = ::write(fd, bytes, size);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    bytes += wrote;
    size -= static_cast<std::size_t>(wrote);
  }
  return true;
}

enum class ReadOutcome { kDone, kEnd, kStopped, kFailed };

ReadOutcome read_all(int fd, void* data, std::size_t size, const std::atomic<int>& stop_signal) {
  auto* bytes = static_cast<std::byte*>(data);
  while (size > 0) {
    const ssize_t got = ::read(fd, bytes, size);
    if (got < 0 && errno == EINTR) {
      if (stop_signal.load() != 0) return ReadOutcome::kStopped;
      continue;
    }
    if (got < 0) return ReadOutcome::kFailed;
    if (got == 0) return ReadOutcome::kEnd;
    bytes += got;
    size -= static_cast<std::size_t>(got);
  }
  return ReadOutcome::kDone;
}

// Whether this process has the page backed (not: it reads as zero without memory).
bool resident(const std::byte* page) {
  unsigned char state = 0;
  return ::mincore(const_cast<std::byte*>(page), kPage, &state) != 0 || (state & 1) != 0;
}

bool all_zero(std::span<const std::byte> page) {
  return std::all_of(page.begin(), page.end(), [](std::byte b) { return b == std::byte{0}; });
}

bool excluded_page(std::uint64_t address, std::span<const GuestRange> excluded) {
  return std::any_of(excluded.begin(), excluded.end(),
                     [&](const GuestRange& range) { return address >= range.start && address < range.end; });
}

}  // namespace

Result<VforkChannel> open_vfork_channel() {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    return fail(ExitStatus::kVmFailure, "vfork: cannot make the pipe the child hands its memory back through: {}",
                std::strerror(errno));
  }
  return VforkChannel{UniqueFd(ends[0]), UniqueFd(ends[1])};
}

Result<std::uint64_t> hand_back_written_pages(int fd, GuestMemory& memory, GuestRange app,
                                              std::span<const GuestRange> excluded, std::uint64_t heap_end,
                                              const char* pagemap_path) {
  if (app.end <= app.start || app.start % kPage != 0 || app.end % kPage != 0) return 0;
  auto host = memory.span(app.start, app.end - app.start);
  if (!host) return fail(ExitStatus::kVmFailure, "vfork: the app's memory range is outside guest memory");
  // Without pagemap (a kernel or sandbox that hides it) every page this
  // process has backed goes: more bytes, but no store of the child's is lost
  // (the parent skips the pages that are already equal).
  const UniqueFd pagemap(::open(pagemap_path, O_RDONLY | O_CLOEXEC));
  bool every_resident_page = !pagemap.valid();
  const auto host_start = reinterpret_cast<std::uintptr_t>(host->data());
  const std::uint64_t page_count = (app.end - app.start) / kPage;
  constexpr std::uint64_t kChunk = 4096;  // entries per read: 32 KiB, 16 MiB of memory
  std::vector<std::uint64_t> entries(kChunk);
  std::uint64_t sent = 0;
  for (std::uint64_t first = 0; first < page_count; first += kChunk) {
    const std::uint64_t count = std::min(kChunk, page_count - first);
    if (!every_resident_page) {
      const auto offset = static_cast<off_t>((host_start / kPage + first) * sizeof(std::uint64_t));
      const ssize_t got = ::pread(pagemap.get(), entries.data(), count * sizeof(std::uint64_t), offset);
      every_resident_page = got != static_cast<ssize_t>(count * sizeof(std::uint64_t));
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::byte* data = host->data() + (first + i) * kPage;
      // Present and this process's alone: written (copied) since the fork, or
      // first touched here. Never a file's page (a MAP_SHARED file mapping is
      // shared with the parent already).
      const std::uint64_t entry = every_resident_page ? 0 : entries[i];
      const bool written = every_resident_page ? resident(data)
                                               : (entry & kPagemapPresent) != 0 && (entry & kPagemapExclusive) != 0 &&
                                                     (entry & kPagemapFileOrSharedAnon) == 0;
      if (!written) continue;
      const std::uint64_t address = app.start + (first + i) * kPage;
      if (excluded_page(address, excluded)) continue;
      const std::span<const std::byte> page = host->subspan((first + i) * kPage, kPage);
      const bool zero = all_zero(page);
      const Record record{address, zero ? RecordKind::kZero : RecordKind::kData, 0};
      if (!write_all(fd, &record, sizeof record) || (!zero && !write_all(fd, page.data(), kPage))) {
        return fail(ExitStatus::kVmFailure, "vfork: cannot hand memory back to the parent: {}", std::strerror(errno));
      }
      ++sent;
    }
  }
  const Record heap{heap_end, RecordKind::kHeapEnd, 0};
  const Record end{0, RecordKind::kEnd, 0};
  if ((heap_end != 0 && !write_all(fd, &heap, sizeof heap)) || !write_all(fd, &end, sizeof end)) {
    return fail(ExitStatus::kVmFailure, "vfork: cannot hand memory back to the parent: {}", std::strerror(errno));
  }
  return sent;
}

Result<TakenPages> take_written_pages(int fd, GuestMemory& memory, GuestRange app,
                                      const std::atomic<int>& stop_signal) {
  TakenPages taken;
  std::vector<std::byte> incoming(kPage);  // one page's bytes at a time
  for (;;) {
    Record record{};
    const ReadOutcome header = read_all(fd, &record, sizeof record, stop_signal);
    if (header != ReadOutcome::kDone) {
      if (header == ReadOutcome::kFailed) {
        return fail(ExitStatus::kVmFailure, "vfork: cannot read the child's memory: {}", std::strerror(errno));
      }
      return taken;  // the child ended without a message (it died), or hyperlet is stopping
    }
    if (record.kind == RecordKind::kEnd) {
      taken.complete = true;
      return taken;
    }
    if (record.kind == RecordKind::kHeapEnd) {
      // The guest kernel checks it as any brk; here only that it is app memory.
      if (record.address < app.start || record.address > app.end) {
        return fail(ExitStatus::kVmFailure, "vfork: the child's heap end {:#x} is outside the app's memory",
                    record.address);
      }
      taken.heap_end = record.address;
      continue;
    }
    if ((record.kind != RecordKind::kData && record.kind != RecordKind::kZero) || record.address % kPage != 0 ||
        record.address < app.start || record.address >= app.end) {
      return fail(ExitStatus::kVmFailure, "vfork: the child handed back a page outside the app's memory ({:#x})",
                  record.address);
    }
    auto page = memory.span(record.address, kPage);
    if (!page) return fail(ExitStatus::kVmFailure, "vfork: page {:#x} is outside guest memory", record.address);
    ++taken.pages;
    if (record.kind == RecordKind::kZero) {
      ++taken.zero;
      // A page not backed here reads as zero already, and stays unbacked.
      if (resident(page->data()) && !all_zero(*page)) std::memset(page->data(), 0, kPage);
      continue;
    }
    const ReadOutcome body = read_all(fd, incoming.data(), kPage, stop_signal);
    if (body == ReadOutcome::kFailed) {
      return fail(ExitStatus::kVmFailure, "vfork: cannot read the child's memory: {}", std::strerror(errno));
    }
    if (body != ReadOutcome::kDone) return taken;
    // Equal bytes stay untouched.
    if (std::memcmp(page->data(), incoming.data(), kPage) != 0) std::memcpy(page->data(), incoming.data(), kPage);
  }
}

}  // namespace hyperlet
