#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <utility>

namespace hyperlet {

// Owns one mmap'd region.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* address, std::size_t length) : address_(address), length_(length) {}
  Mapping(Mapping&& other) noexcept
      : address_(std::exchange(other.address_, nullptr)), length_(std::exchange(other.length_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept {
    if (this != &other) {
      reset();
      address_ = std::exchange(other.address_, nullptr);
      length_ = std::exchange(other.length_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  std::byte* data() const { return static_cast<std::byte*>(address_); }
  std::size_t size() const { return length_; }
  // Forgets the region without unmapping it (the process's exit, or a process
  // sharing the memory, unmaps it).
  void release() {
    address_ = nullptr;
    length_ = 0;
  }
  void reset() {
    if (address_ != nullptr) ::munmap(address_, length_);
    address_ = nullptr;
    length_ = 0;
  }

 private:
  void* address_ = nullptr;
  std::size_t length_ = 0;
};

}  // namespace hyperlet
