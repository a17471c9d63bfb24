// A guest for unit tests of the host syscalls, without a VM: real guest memory
// and layout, a SyscallContext over them, and the host syscall table the guest
// kernel reaches. Fixtures derive from it beside ::testing::Test and use its
// members as their own:
//
//   class FileTest : public ::testing::Test, protected TestGuest { ... };
//
// Setting up cannot fail in practice; if it does, the constructor throws and
// gtest reports the test as failed in the fixture's constructor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "devices/host_syscalls.h"
#include "memory/guest_layout.h"
#include "memory/guest_memory.h"

namespace hyperlet {

class TestGuest {
 public:
  TestGuest(const TestGuest&) = delete;  // the context refers to layout_ and memory_
  TestGuest& operator=(const TestGuest&) = delete;

 protected:
  static constexpr std::uint64_t kDefaultMemorySize = 16ull << 20;

  // A 0x400000-0x4a1234 image in memory_size bytes of guest memory.
  explicit TestGuest(std::uint64_t memory_size = kDefaultMemorySize, std::string exe_path = "/apps/hello");
  // The context goes first: its file ring's poller thread touches memory_ and
  // table_. Then the temporary volume's directory.
  ~TestGuest();

  std::int64_t call(std::uint64_t number, SyscallArguments args) { return table_.call(number, *context_, args); }

  // Makes a temporary host directory (named from prefix) and mounts it
  // read-write as the guest's volume at guest_dir, as `--volume DIR:/data` does;
  // its host path. The directory goes, with everything in it, with this guest.
  std::string mount_temp_volume(std::string_view prefix, std::string guest_dir = "/data");

  GuestLayout layout_{};
  std::optional<GuestMemory> memory_;  // always set
  HostSyscallTable table_ = make_host_syscall_table();
  std::optional<SyscallContext> context_;  // always set; last, so destroyed first

 private:
  std::string temp_dir_;
};

}  // namespace hyperlet
