#include "test_guest.h"

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "devices/volumes.h"

namespace hyperlet {
namespace {

template <typename T>
T value_or_throw(Result<T> result) {
  if (!result) throw std::runtime_error("test guest: " + result.error().message);
  return std::move(*result);
}

}  // namespace

TestGuest::TestGuest(std::uint64_t memory_size, std::string exe_path)
    : layout_(value_or_throw(compute_guest_layout(memory_size, 0x400000, 0x4a1234))),
      memory_(value_or_throw(GuestMemory::create(layout_.memory_size))) {
  context_.emplace(*memory_, layout_, std::move(exe_path));
}

TestGuest::~TestGuest() {
  context_.reset();
  if (!temp_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir_, ignored);
  }
}

std::string TestGuest::mount_temp_volume(std::string_view prefix, std::string guest_dir) {
  if (!temp_dir_.empty()) throw std::logic_error("test guest: one temporary volume only");
  std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "test guest: mkdtemp " + pattern);
  }
  temp_dir_ = pattern;
  context_->files.volumes = value_or_throw(open_volumes({{temp_dir_, std::move(guest_dir), false}}));
  return temp_dir_;
}

}  // namespace hyperlet
