#include "memory/file_mappings.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "memory/bus_errors.h"

namespace hyperlet {

FileMappings::~FileMappings() {
  if (watched_ != nullptr) bus_errors::unwatch(watched_->host_base());
}

int FileMappings::map(GuestMemory& memory, std::uint64_t address, std::uint64_t length, int host_fd,
                      std::uint64_t offset, std::string name) {
  if (length == 0 || offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()) - length) return -EINVAL;
  if (!memory.span(address, length)) return -EINVAL;
  const int status = ::fcntl(host_fd, F_GETFL);
  if (status < 0) return -errno;
  forget(address, length);  // whatever the range held is replaced, as by Linux's MAP_FIXED
  if (entries_.size() >= kMaxMappings) return -ENOMEM;
  if (watched_ != &memory) {
    if (!bus_errors::watch(memory.host_base(), memory.size())) return -ENOMEM;
    watched_ = &memory;
  }
  // Our own reference to the file: mremap maps it again after the app closed its fd.
  auto file = std::make_shared<UniqueFd>(::fcntl(host_fd, F_DUPFD_CLOEXEC, 0));
  if (!file->valid()) return -errno;
  const bool shared = (status & O_ACCMODE) == O_RDWR && (status & O_APPEND) == 0;
  if (shared) {
    if (const int mapped = memory.map_shared(address, length, file->get(), offset); mapped != 0) return mapped;
  } else if (!memory.map_copy_on_write(address, length, file->get(), offset)) {
    const int failure = errno;
    memory.discard(address, length);
    return -failure;
  }
  entries_.push_back(Entry{address, length, offset, std::move(file), shared, std::move(name)});
  return 0;
}

int FileMappings::map_shared_anonymous(GuestMemory& memory, std::uint64_t address, std::uint64_t length) {
  if (length == 0 || length > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) return -EINVAL;
  if (!memory.span(address, length)) return -EINVAL;
  const UniqueFd pages(::memfd_create("hyperlet-shared-anonymous", MFD_CLOEXEC));
  if (!pages.valid()) return -errno;
  if (::ftruncate(pages.get(), static_cast<off_t>(length)) != 0) return -errno;
  return map(memory, address, length, pages.get(), 0, "[shared anonymous]");
}

int FileMappings::move(GuestMemory& memory, std::uint64_t address, std::uint64_t length, std::uint64_t source) {
  const Entry* from = find(source);
  if (from == nullptr) return -ENOENT;
  const std::uint64_t offset = from->offset + (source - from->address);
  // Copies: map() may reallocate entries_.
  const std::shared_ptr<UniqueFd> file = from->file;
  std::string name = from->name;
  return map(memory, address, length, file->get(), offset, std::move(name));
}

int FileMappings::sync(const GuestMemory& memory, std::uint64_t address, std::uint64_t length) const {
  for (const Entry& entry : entries_) {
    const std::uint64_t low = std::max(address, entry.address);
    const std::uint64_t high = std::min(address + length, entry.address + entry.length);
    if (low >= high || !entry.shared) continue;
    if (const int synced = memory.sync(low, high - low); synced != 0) return synced;
  }
  return 0;
}

void FileMappings::forget(std::uint64_t address, std::uint64_t length) {
  const std::uint64_t end = address + length;
  std::vector<Entry> kept;
  kept.reserve(entries_.size() + 1);
  for (Entry& entry : entries_) {
    const std::uint64_t entry_end = entry.address + entry.length;
    if (entry_end <= address || entry.address >= end) {
      kept.push_back(std::move(entry));
      continue;
    }
    if (entry.address < address) {
      kept.push_back(Entry{entry.address, address - entry.address, entry.offset, entry.file, entry.shared, entry.name});
    }
    if (entry_end > end) {
      kept.push_back(
          Entry{end, entry_end - end, entry.offset + (end - entry.address), entry.file, entry.shared, entry.name});
    }
  }
  entries_ = std::move(kept);
}

void FileMappings::discard_all(GuestMemory& memory) {
  for (const Entry& entry : entries_) memory.discard(entry.address, entry.length);
  entries_.clear();
}

const FileMappings::Entry* FileMappings::find(std::uint64_t address) const {
  for (const Entry& entry : entries_) {
    if (address >= entry.address && address - entry.address < entry.length) return &entry;
  }
  return nullptr;
}

}  // namespace hyperlet
