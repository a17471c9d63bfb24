#include "memory/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/checked_range.h"

namespace hyperlet {

Result<GuestMemory> GuestMemory::create(std::uint64_t size) {
  // MAP_NORESERVE: a large --memory costs nothing until the guest touches it.
  void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (address == MAP_FAILED) {
    return fail(ExitStatus::kGuestMemoryTooSmall, "cannot reserve {} bytes of guest memory: {}", size,
                std::strerror(errno));
  }
  return GuestMemory(Mapping(address, size));
}

std::optional<std::span<std::byte>> GuestMemory::span(std::uint64_t address, std::uint64_t length) const {
  if (!range_fits(address, length, size())) return std::nullopt;
  if (tracking_ && length != 0) record_access(address, length);
  return std::span<std::byte>(mapping_.data() + address, length);
}

void GuestMemory::record_access(std::uint64_t address, std::uint64_t length) const {
  constexpr std::uint64_t kPageShift = 12;
  const std::uint64_t last = (address + length - 1) >> kPageShift;
  for (std::uint64_t page = address >> kPageShift; page <= last; ++page) {
    host_accessed_[page / 64] |= std::uint64_t{1} << (page % 64);
  }
}

void GuestMemory::track_host_access() {
  tracking_ = true;
  host_accessed_.assign((size() / 4096 + 63) / 64, 0);
}

std::vector<std::uint64_t> GuestMemory::take_host_accessed_pages() {
  std::vector<std::uint64_t> pages(host_accessed_.size(), 0);
  pages.swap(host_accessed_);
  return pages;
}

bool GuestMemory::write_bytes(std::uint64_t address, std::span<const std::byte> bytes) {
  auto target = span(address, bytes.size());
  if (!target) return false;
  std::memcpy(target->data(), bytes.data(), bytes.size());
  return true;
}

bool GuestMemory::populate(std::uint64_t address, std::uint64_t length) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  if (length == 0) return true;
  if (!span(address, length)) return false;
  const std::uint64_t start = address & ~(page - 1);
  const std::uint64_t end = std::min<std::uint64_t>((address + length + page - 1) & ~(page - 1), size());
  // Kernels before 5.14 lack the advice; the pages are then faulted in lazily.
  ::madvise(mapping_.data() + start, end - start, MADV_POPULATE_WRITE);
  return true;
}

bool GuestMemory::map_copy_on_write(std::uint64_t address, std::uint64_t length, int fd, std::uint64_t offset) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  if (address % page != 0 || length % page != 0 || offset % page != 0 || length == 0) return false;
  auto target = span(address, length);
  if (!target) return false;
  void* mapped =
      ::mmap(target->data(), length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, static_cast<off_t>(offset));
  return mapped == target->data();
}

int GuestMemory::map_shared(std::uint64_t address, std::uint64_t length, int fd, std::uint64_t offset) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  if (address % page != 0 || length % page != 0 || offset % page != 0 || length == 0) return -EINVAL;
  auto target = span(address, length);
  if (!target) return -EINVAL;
  void* mapped =
      ::mmap(target->data(), length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, static_cast<off_t>(offset));
  if (mapped == MAP_FAILED) {
    const int failure = errno;
    discard(address, length);  // whatever a failed MAP_FIXED left there, the pages read as zero
    return -failure;
  }
  return 0;
}

int GuestMemory::sync(std::uint64_t address, std::uint64_t length) const {
  auto target = span(address, length);
  if (!target) return -ENOMEM;
  return ::msync(target->data(), length, MS_SYNC) == 0 ? 0 : -errno;
}

bool GuestMemory::discard(std::uint64_t address, std::uint64_t length) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  if (address % page != 0 || length % page != 0) return false;
  auto target = span(address, length);
  if (!target) return false;
  // MADV_DONTNEED would make pages mapped from a snapshot read as the snapshot
  // again; a fresh anonymous mapping reads as zero either way.
  void* mapped = ::mmap(target->data(), length, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  return mapped == target->data();
}

std::uint64_t GuestMemory::resident_pages() const {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> residency((size() + page - 1) / page);
  if (::mincore(mapping_.data(), size(), residency.data()) != 0) return 0;
  std::uint64_t count = 0;
  for (unsigned char flag : residency) count += flag & 1;
  return count;
}

}  // namespace hyperlet
