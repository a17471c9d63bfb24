// Writes the fuzz targets' starting inputs into DIR/<target>/: well-formed
// inputs that reach deep into each parser, made with the project's own writers
// so that they follow every format change. The images given after DIR (built
// static programs) become app_image seeds as they are.
//
//   fuzz_write_seeds DIR [IMAGE...]
#include <fcntl.h>
#include <hyperlet/abi.h>
#include <sys/syscall.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "elf_builder.h"
#include "memory/guest_memory.h"
#include "snapshot/host_state.h"
#include "snapshot/snapshot_file.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, const void* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// The bytes of a target's input, built a field at a time (little-endian, as
// fuzz::InputReader takes them).
class InputBytes {
 public:
  const std::vector<char>& bytes() const { return bytes_; }

 protected:
  template <typename T>
  void put(const T& value) {
    const auto* raw = reinterpret_cast<const char*>(&value);
    bytes_.insert(bytes_.end(), raw, raw + sizeof value);
  }
  // A length byte, then the bytes.
  void put_counted(const std::string& bytes) {
    put(static_cast<std::uint8_t>(bytes.size()));
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  }

 private:
  std::vector<char> bytes_;
};

// host_syscalls_fuzz.cpp's record: selector, pointer bits, six arguments, and
// bytes placed at heap_start + place_at.
class CallProgram : public InputBytes {
 public:
  CallProgram& call(std::uint16_t number, std::uint8_t pointers, std::array<std::uint64_t, 6> args,
                    std::uint16_t place_at = 0, std::string bytes = {}) {
    put(number);
    put(pointers);
    for (std::uint64_t arg : args) put(arg);
    put(place_at);
    put_counted(bytes);
    return *this;
  }
};

void write_syscall_seeds(const fs::path& directory) {
  constexpr std::uint64_t kCwd = static_cast<std::uint64_t>(AT_FDCWD);
  const std::string path("/data/notes\0", 12);
  // Files on the volume: create, write, seek, read, list, rename, link, remove.
  CallProgram files;
  files.call(SYS_openat, 0b0010, {kCwd, 0, O_CREAT | O_RDWR, 0644, 0, 0}, 0, path)
      .call(SYS_write, 0b0010, {3, 0x100, 5, 0, 0, 0}, 0x100, "hello")
      .call(SYS_lseek, 0, {3, 0, SEEK_SET, 0, 0, 0})
      .call(SYS_read, 0b0010, {3, 0x200, 5, 0, 0, 0})
      .call(SYS_getdents64, 0b0010, {3, 0x300, 0x400, 0, 0, 0})
      .call(SYS_mkdirat, 0b0010, {kCwd, 0x40, 0755, 0, 0, 0}, 0x40, std::string("/data/dir\0", 10))
      .call(SYS_renameat, 0b1010, {kCwd, 0, kCwd, 0x40, 0, 0}, 0x40, std::string("/data/dir/moved\0", 16))
      .call(SYS_unlinkat, 0b0010, {kCwd, 0x40, 0, 0, 0, 0})
      // A symlink out of the volume, and a file created through it: refused.
      .call(SYS_symlinkat, 0b101, {0x60, kCwd, 0x6a, 0, 0, 0}, 0x60, std::string("../../tmp\0/data/link\0", 21))
      .call(SYS_openat, 0b0010, {kCwd, 0x80, O_CREAT | O_WRONLY, 0644, 0, 0}, 0x80,
            std::string("/data/link/escaped\0", 19));
  write_file(directory / "files", files.bytes().data(), files.bytes().size());
  // Pipes, eventfds and epoll; a socket the policy refuses to connect.
  CallProgram descriptors;
  const std::string address = {2, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  descriptors.call(SYS_pipe2, 0b0001, {0x10, O_NONBLOCK, 0, 0, 0, 0})
      .call(SYS_write, 0b0010, {4, 0x100, 3, 0, 0, 0}, 0x100, "abc")
      .call(SYS_read, 0b0010, {3, 0x200, 3, 0, 0, 0})
      .call(SYS_eventfd2, 0, {0, 0, 0, 0, 0, 0})
      .call(SYS_epoll_create1, 0, {0, 0, 0, 0, 0, 0})
      .call(SYS_epoll_ctl, 0b1000, {6, 1, 5, 0x20, 0, 0}, 0x20, std::string("\x01\0\0\0\0\0\0\0\0\0\0\0", 12))
      .call(SYS_socket, 0, {2, 1, 0, 0, 0, 0})
      .call(SYS_connect, 0b0010, {7, 0x400, 16, 0, 0, 0}, 0x400, address)
      .call(SYS_close, 0, {3, 0, 0, 0, 0, 0});
  write_file(directory / "descriptors", descriptors.bytes().data(), descriptors.bytes().size());
}

// hypercalls_fuzz.cpp's record: the call, where its argument struct is, the
// struct's bytes, and bytes placed at heap_start + place_at.
class HypercallProgram : public InputBytes {
 public:
  template <typename Args>
  HypercallProgram& call(abi::Hypercall which, const Args& args, std::uint16_t place_at = 0, std::string bytes = {}) {
    put(static_cast<std::uint8_t>(which));
    put(std::uint8_t{0});  // at abi::kHypercallArgsAddr
    put(std::uint16_t{0});
    put(static_cast<std::uint8_t>(sizeof args));
    put(args);
    put(place_at);
    put_counted(bytes);
    return *this;
  }
};

// The heap_start of the fuzz targets' guest (a TestGuest of the default size).
std::uint64_t test_guest_heap_start() {
  struct LayoutOnly : TestGuest {
    std::uint64_t heap_start() const { return layout_.heap_start; }
  };
  return LayoutOnly().heap_start();
}

void write_hypercall_seeds(const fs::path& directory) {
  using abi::Hypercall;
  const std::uint64_t heap = test_guest_heap_start();
  constexpr std::uint64_t kCwd = static_cast<std::uint64_t>(AT_FDCWD);
  // Forwarded calls as the guest kernel makes them: a file on the volume, a
  // parkable read of it, one the kernel makes for itself, a traced one.
  HypercallProgram calls;
  calls
      .call(Hypercall::kHostSyscall, abi::SyscallArgs{SYS_openat, {kCwd, heap + 0x40, O_CREAT | O_RDWR, 0644}, 0}, 0x40,
            std::string("/data/f\0", 8))
      .call(Hypercall::kParkableSyscall, abi::ParkableSyscallArgs{{SYS_read, {3, heap + 0x100, 16}, 0}, 0, 0, 0, 0})
      .call(Hypercall::kKernelHostSyscall, abi::SyscallArgs{SYS_getpid, {}, 0})
      .call(Hypercall::kTrace, abi::SyscallArgs{SYS_getppid, {}, 1})
      .call(Hypercall::kExit, abi::ExitArgs{3, 0});
  write_file(directory / "calls", calls.bytes().data(), calls.bytes().size());
  // App memory given back and shared, a file mapped over it, a syscall site,
  // the vector state, a short sleep, the other vCPUs.
  HypercallProgram memory;
  memory.call(Hypercall::kDiscard, abi::DiscardArgs{heap + 0x1000, 0x2000, 0})
      .call(Hypercall::kFileMapping,
            abi::FileMappingArgs{abi::FileMappingOp::kShareAnonymous, 1, heap + 0x4000, 0x2000, 0, 0, 0, 0})
      .call(Hypercall::kHostSyscall, abi::SyscallArgs{SYS_openat, {kCwd, heap + 0x40, O_CREAT | O_RDWR, 0644}, 0}, 0x40,
            std::string("/data/g\0", 8))
      .call(Hypercall::kFileMapping,
            abi::FileMappingArgs{abi::FileMappingOp::kMap, 1, heap + 0x8000, 0x1000, 3, 0, 0, 0})
      .call(Hypercall::kSyscallSite, abi::SyscallSiteArgs{0x401000, 0})
      .call(Hypercall::kVectorState, abi::VectorStateArgs{})
      .call(Hypercall::kSleep, abi::SleepArgs{1000})
      .call(Hypercall::kKickCpus, abi::CpusArgs{})
      .call(Hypercall::kFault, abi::FaultArgs{14, 4, 0x401000, 0x33, 0x202, heap + 0x10000, 0x10, 0, 0, 0, 0, 0, 0, 0});
  write_file(directory / "memory", memory.bytes().data(), memory.bytes().size());
}

void write_snapshot_seed(const fs::path& directory) {
  class SeedGuest : public TestGuest {
   public:
    using TestGuest::call;
    using TestGuest::context_;
    using TestGuest::layout_;
    using TestGuest::memory_;
    using TestGuest::mount_temp_volume;
  } guest;
  guest.mount_temp_volume("hyperlet-fuzz-seed");
  // A volume file and a pipe open, so that the host state has both kinds.
  const std::uint64_t name = guest.layout_.heap_start;
  auto where = guest.memory_->span(name, 16);
  if (!where) throw std::runtime_error("seed guest: no room for a path");
  std::memcpy(where->data(), "/data/kept", 11);
  guest.call(SYS_openat, {static_cast<std::uint64_t>(AT_FDCWD), name, O_CREAT | O_RDWR, 0644, 0, 0});
  guest.call(SYS_pipe2, {name + 64, 0, 0, 0, 0, 0});
  auto files = snapshot::capture_files(*guest.context_);
  if (!files) throw std::runtime_error("seed guest: " + files.error().message);
  // Two runs of touched pages.
  std::memset(guest.memory_->span(0x1000, 0x2000)->data(), 0xab, 0x2000);
  std::memset(guest.memory_->span(0x100000, 0x1000)->data(), 0xcd, 0x1000);
  snapshot::Contents contents;
  contents.memory_size = guest.memory_->size();
  contents.machine = "fuzz machine";
  contents.vcpu.regs.rip = 0x401000;
  contents.host = {{"files", *files}};
  contents.runs = snapshot::resident_runs(*guest.memory_);
  if (auto ok = snapshot::write((directory / "two-runs.snap").string(), contents, *guest.memory_); !ok) {
    throw std::runtime_error("seed snapshot: " + ok.error().message);
  }
}

void write_bundle_config_seed(const fs::path& directory) {
  const std::string config = R"({
  "ociVersion": "1.0.2",
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "web",
  "process": {"terminal": false, "args": ["/usr/bin/server", "--port", "8080"], "cwd": "/srv",
              "env": ["PATH=/usr/bin:/bin", "MODE=prod"],
              "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data/", "type": "bind", "source": "/srv/data/", "options": ["rbind", "rw"]},
    {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"]}
  ],
  "annotations": {"hyperlet.dev/publish": "8080:8080", "hyperlet.dev/allow-connect": "10.0.0.1:5432"},
  "linux": {
    "cgroupsPath": "/kubepods/pod1/web",
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/pod1"}, {"type": "mount"}],
    "resources": {"memory": {"limit": 134217728, "reservation": 67108864},
                  "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0-1", "mems": "0"},
                  "pids": {"limit": 100}}
  }
})";
  write_file(directory / "config.json", config.data(), config.size());
}

void write_image_seeds(const fs::path& directory, int count, char** images) {
  const auto minimal = testing::ElfImage::static_executable().bytes();
  write_file(directory / "minimal", minimal.data(), minimal.size());
  for (int i = 0; i < count; ++i)
    fs::copy_file(images[i], directory / fs::path(images[i]).filename(), fs::copy_options::overwrite_existing);
}

}  // namespace
}  // namespace hyperlet

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_write_seeds DIR [IMAGE...]\n");
    return 2;
  }
  const fs::path root = argv[1];
  try {
    for (const char* target : {"host_syscalls", "hypercalls", "app_image", "snapshot_file", "bundle_config"}) {
      fs::create_directories(root / target);
    }
    hyperlet::write_bundle_config_seed(root / "bundle_config");
    hyperlet::write_syscall_seeds(root / "host_syscalls");
    hyperlet::write_hypercall_seeds(root / "hypercalls");
    hyperlet::write_image_seeds(root / "app_image", argc - 2, argv + 2);
    hyperlet::write_snapshot_seed(root / "snapshot_file");
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fuzz_write_seeds: %s\n", error.what());
    return 1;
  }
  return 0;
}
