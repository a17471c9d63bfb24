// The app's MAP_SHARED file mappings: which guest pages are, for now, a host
// file's own pages (GuestMemory::map_shared) rather than anonymous memory.
// Every mapping of a file, its reads and writes through fds, and other
// processes then see one copy, and nothing is ever written back from a copy:
// there is none.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "memory/guest_memory.h"

namespace hyperlet {

class FileMappings {
 public:
  // Linux's vm.max_map_count is 65530 for all of a process's mappings; a
  // service maps a few files, and each entry holds a host fd.
  static constexpr std::size_t kMaxMappings = 1024;

  struct Entry {
    std::uint64_t address;
    std::uint64_t length;
    std::uint64_t offset;  // in the file, of `address`
    std::shared_ptr<UniqueFd> file;
    // MAP_SHARED on the host: the fd was open for reading and writing. A
    // read-only fd's pages are mapped privately: they read the page cache, and
    // a store (which Linux would refuse) never reaches the file.
    bool shared;
    std::string name;  // the guest path, for messages
  };

  FileMappings() = default;
  FileMappings(const FileMappings&) = delete;
  FileMappings& operator=(const FileMappings&) = delete;
  ~FileMappings();

  // Maps `length` bytes of `host_fd` from `offset` over the guest pages at
  // `address`, replacing what was there. 0 or -errno.
  int map(GuestMemory& memory, std::uint64_t address, std::uint64_t length, int host_fd, std::uint64_t offset,
          std::string name);
  // MAP_SHARED|MAP_ANONYMOUS: fresh zero pages over [address, address + length)
  // that are a host memfd's, so that a forked child (a host fork) shares them
  // with its parent. 0 or -errno.
  int map_shared_anonymous(GuestMemory& memory, std::uint64_t address, std::uint64_t length);
  // mremap: the file mapped at `source` mapped again at `address` for `length`
  // bytes, from the file offset `source` had. -ENOENT if no file is mapped there.
  int move(GuestMemory& memory, std::uint64_t address, std::uint64_t length, std::uint64_t source);
  // msync: what is mapped shared in the range goes to the file's storage.
  int sync(const GuestMemory& memory, std::uint64_t address, std::uint64_t length) const;
  // The pages of [address, address + length) were made anonymous again (discard).
  void forget(std::uint64_t address, std::uint64_t length);
  // Makes every mapped page anonymous again, before a reset copies a snapshot's
  // bytes over the pages the app wrote (they must not land in a file).
  void discard_all(GuestMemory& memory);

  const Entry* find(std::uint64_t address) const;
  const std::vector<Entry>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
  const GuestMemory* watched_ = nullptr;  // registered with memory/bus_errors.h
};

}  // namespace hyperlet
