// Fuzz target: a hostile app's forwarded syscalls (abi::Hypercall::kHostSyscall),
// the host's largest attack surface. Each input is a short program of syscalls
// with arguments and bytes placed in app memory beforehand, run through the same
// host syscall table a microVM reaches (devices/host_syscalls.h), over real
// guest memory and a read-write volume at /data, without KVM.
//
// Beyond "no crash, no sanitizer report", two invariants a hostile guest must
// never break: nothing is created on the host outside the volume's directory
// (a path, symlink or rename that escapes it), and every host fd the app's
// files held is closed when its context goes (no fd leak to exhaust the host).
//
// Input: up to kMaxCalls records of
//   u16 selector   syscall number: selector % 460, or with bit 15 set one of
//                  hyperlet's own (abi.h, 0x10000000 + low 4 bits)
//   u8  pointers   bit i set: argument i is an app-memory address,
//                  heap_start + (its low 16 bits), so pointers land where the
//                  placed bytes are
//   u64 args[6]
//   u16 place_at   offset from heap_start of the bytes that follow
//   u8  length     how many bytes to place (strings, structs, iovecs)
//   bytes[length]
//
// HYPERLET_FUZZ_TRACE=1 prints each call and its result (to see what an input does).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "fuzz_target.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

constexpr int kMaxCalls = 16;
constexpr std::uint64_t kLinuxSyscalls = 460;
constexpr std::uint64_t kHyperletSyscallBase = 0x10000000;

class FuzzGuest : public TestGuest {
 public:
  // The app's console is /dev/null: its reads of stdin must end at once (the
  // fuzzer's own stdin may be a pipe that never does), and its writes are noise.
  FuzzGuest() : TestGuest(kDefaultMemorySize, "/data/app") {
    for (int fd = 0; fd < 3; ++fd) {
      auto null = std::make_shared<OpenFile>();
      null->owned = UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
      null->host_fd = null->owned.get();
      context_->files.fds.place(fd, std::move(null), false);
    }
  }
  using TestGuest::call;
  using TestGuest::layout_;
  using TestGuest::memory_;
  using TestGuest::mount_temp_volume;
};

// A call may rightly wait for ever (pselect with no fds, a read of an empty
// pipe whose writer the app holds): a timer interrupts every call after 20 ms,
// as a signal would interrupt the app's, so that such inputs are not hangs.
class CallDeadline {
 public:
  CallDeadline() {
    static const bool installed = [] {
      struct sigaction action {};
      action.sa_handler = [](int) {};  // no SA_RESTART: the host call returns EINTR
      return ::sigaction(SIGALRM, &action, nullptr) == 0;
    }();
    if (!installed) fuzz::fuzz_failure("cannot handle SIGALRM");
    itimerval deadline{};
    deadline.it_value.tv_usec = 20'000;
    ::setitimer(ITIMER_REAL, &deadline, nullptr);
  }
  CallDeadline(const CallDeadline&) = delete;
  CallDeadline& operator=(const CallDeadline&) = delete;
  ~CallDeadline() {
    const itimerval off{};
    ::setitimer(ITIMER_REAL, &off, nullptr);
  }
};

int open_fd_count() {
  int count = 0;
  if (DIR* directory = ::opendir("/proc/self/fd")) {
    while (::readdir(directory) != nullptr) ++count;
    ::closedir(directory);
  }
  return count;
}

void run_calls(fuzz::InputReader& input, FuzzGuest& guest) {
  static const bool trace = ::getenv("HYPERLET_FUZZ_TRACE") != nullptr;
  const std::uint64_t heap = guest.layout_.heap_start;
  for (int call = 0; call < kMaxCalls && !input.empty(); ++call) {
    const auto selector = input.take<std::uint16_t>();
    const auto pointers = input.take<std::uint8_t>();
    SyscallArguments args{};
    for (auto& arg : args) arg = input.take<std::uint64_t>();
    const auto place_at = input.take<std::uint16_t>();
    const auto bytes = input.take_bytes(input.take<std::uint8_t>());
    auto target = guest.memory_->span(heap + place_at, bytes.size());
    if (target && !bytes.empty()) std::memcpy(target->data(), bytes.data(), bytes.size());
    for (std::size_t i = 0; i < args.size(); ++i) {
      if ((pointers >> i) & 1) args[i] = heap + (args[i] & 0xffff);
    }
    const std::uint64_t number =
        (selector & 0x8000) != 0 ? kHyperletSyscallBase + (selector & 0xf) : selector % kLinuxSyscalls;
    std::int64_t result;
    {
      CallDeadline deadline;
      result = guest.call(number, args);
    }
    if (trace) {
      std::fprintf(stderr, "syscall %#llx(%#llx, %#llx, %#llx, %#llx, %#llx, %#llx) = %lld\n",
                   static_cast<unsigned long long>(number), static_cast<unsigned long long>(args[0]),
                   static_cast<unsigned long long>(args[1]), static_cast<unsigned long long>(args[2]),
                   static_cast<unsigned long long>(args[3]), static_cast<unsigned long long>(args[4]),
                   static_cast<unsigned long long>(args[5]), static_cast<long long>(result));
    }
  }
}

}  // namespace
}  // namespace hyperlet

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  using namespace hyperlet;
  // The volume's directory alone in a directory of its own: whatever else
  // appears there came through the volume.
  std::string parent = (fs::temp_directory_path() / "hyperlet-fuzz-XXXXXX").string();
  if (::mkdtemp(parent.data()) == nullptr) fuzz::fuzz_failure("mkdtemp failed");
  const std::string old_tmpdir = ::getenv("TMPDIR") != nullptr ? ::getenv("TMPDIR") : "";
  ::setenv("TMPDIR", parent.c_str(), 1);
  const int fds_before = open_fd_count();
  {
    FuzzGuest guest;
    const std::string volume = guest.mount_temp_volume("volume");
    fuzz::InputReader input(data, size);
    run_calls(input, guest);
    for (const auto& entry : fs::directory_iterator(parent)) {
      if (entry.path() != volume) fuzz::fuzz_failure("a file appeared outside the volume: " + entry.path().string());
    }
  }
  if (old_tmpdir.empty()) {
    ::unsetenv("TMPDIR");
  } else {
    ::setenv("TMPDIR", old_tmpdir.c_str(), 1);
  }
  std::error_code ignored;
  const bool parent_empty = fs::is_empty(parent, ignored);
  fs::remove_all(parent, ignored);
  if (!parent_empty) fuzz::fuzz_failure("the volume's directory outlived the guest, or something escaped it");
  if (open_fd_count() != fds_before) fuzz::fuzz_failure("host fds leaked past the guest's context");
  return 0;
}
