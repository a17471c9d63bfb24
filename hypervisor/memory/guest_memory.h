// Guest memory: one anonymous mapping, and the only place that turns a guest
// address into host bytes. Every access is bounds-checked; no other code does
// pointer arithmetic on guest addresses.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/mapping.h"

namespace hyperlet {

class GuestMemory {
 public:
  static Result<GuestMemory> create(std::uint64_t size);

  std::uint64_t size() const { return mapping_.size(); }
  // For KVM_SET_USER_MEMORY_REGION only.
  std::byte* host_base() const { return mapping_.data(); }
  // At the end of a run with a teardown reaper (vm/teardown_reaper.h): the
  // reaper's exit unmaps guest memory, off hyperlet's exit path.
  void leave_mapped() { mapping_.release(); }

  // [address, address + length) as host bytes, or nullopt if any part lies outside.
  std::optional<std::span<std::byte>> span(std::uint64_t address, std::uint64_t length) const;

  template <typename T>
  std::optional<T> read(std::uint64_t address) const {
    static_assert(std::is_trivially_copyable_v<T>);
    auto bytes = span(address, sizeof(T));
    if (!bytes) return std::nullopt;
    T value;
    std::memcpy(&value, bytes->data(), sizeof(T));
    return value;
  }

  template <typename T>
  bool write(std::uint64_t address, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    return write_bytes(address, std::as_bytes(std::span(&value, 1)));
  }

  bool write_bytes(std::uint64_t address, std::span<const std::byte> bytes);

  // Backs the pages holding [address, address + length) writable in one pass,
  // ahead of a copy that would otherwise fault them in one by one.
  bool populate(std::uint64_t address, std::uint64_t length);

  // Maps `length` bytes of `fd` from `offset` privately over guest pages at
  // `address` (all page-aligned), without touching them: they stay shared with
  // the file's page cache until the guest writes one (snapshot restore).
  bool map_copy_on_write(std::uint64_t address, std::uint64_t length, int fd, std::uint64_t offset);
  // Maps `length` bytes of `fd` from `offset` shared over guest pages at
  // `address` (all page-aligned): the guest's loads and stores are the file's
  // page cache, as a process's MAP_SHARED mapping is. 0 or -errno.
  int map_shared(std::uint64_t address, std::uint64_t length, int fd, std::uint64_t offset);
  // msync(MS_SYNC) of guest pages mapped by map_shared. 0 or -errno.
  int sync(std::uint64_t address, std::uint64_t length) const;

  // Gives the pages back to the host; they read as zero afterwards, also where
  // they were mapped from a snapshot file (they are made anonymous again).
  bool discard(std::uint64_t address, std::uint64_t length);

  // Host-side write tracking for resetting a VM to its snapshot: from now on
  // every page the host hands out through span() (and so write_bytes, populate,
  // discard) is recorded, reads included (too many is safe, too few is not).
  // KVM's dirty log covers what the guest itself writes.
  void track_host_access();
  // The pages recorded since the last call, as a bitmap (bit i = page i), and
  // a fresh start.
  std::vector<std::uint64_t> take_host_accessed_pages();

  // How many pages of guest memory the host has backed so far.
  std::uint64_t resident_pages() const;

 private:
  explicit GuestMemory(Mapping mapping) : mapping_(std::move(mapping)) {}
  void record_access(std::uint64_t address, std::uint64_t length) const;

  Mapping mapping_;
  bool tracking_ = false;
  // Filled by span(), which is const: the record is not part of the memory's value.
  mutable std::vector<std::uint64_t> host_accessed_;
};

}  // namespace hyperlet
