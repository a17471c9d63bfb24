#include "fuzz_guest.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "fuzz_target.h"

namespace hyperlet::fuzz {
namespace {

int open_fd_count() {
  int count = 0;
  if (DIR* directory = ::opendir("/proc/self/fd")) {
    while (::readdir(directory) != nullptr) ++count;
    ::closedir(directory);
  }
  return count;
}

}  // namespace

FuzzGuest::FuzzGuest() : TestGuest(kDefaultMemorySize, "/data/app") {
  for (int fd = 0; fd < 3; ++fd) {
    auto null = std::make_shared<OpenFile>();
    null->owned = UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    null->host_fd = null->owned.get();
    context_->files.fds.place(fd, std::move(null), false);
  }
}

CallDeadline::CallDeadline() {
  static const bool installed = [] {
    struct sigaction action {};
    action.sa_handler = [](int) {};  // no SA_RESTART: the host call returns EINTR
    return ::sigaction(SIGALRM, &action, nullptr) == 0;
  }();
  if (!installed) fuzz_failure("cannot handle SIGALRM");
  itimerval deadline{};
  deadline.it_value.tv_usec = 20'000;
  ::setitimer(ITIMER_REAL, &deadline, nullptr);
}

CallDeadline::~CallDeadline() {
  const itimerval off{};
  ::setitimer(ITIMER_REAL, &off, nullptr);
}

void run_contained(const std::function<void(FuzzGuest&)>& body) {
  namespace fs = std::filesystem;
  // The volume's directory alone in a directory of its own: whatever else
  // appears there came through the volume.
  std::string parent = (fs::temp_directory_path() / "hyperlet-fuzz-XXXXXX").string();
  if (::mkdtemp(parent.data()) == nullptr) fuzz_failure("mkdtemp failed");
  const std::string old_tmpdir = ::getenv("TMPDIR") != nullptr ? ::getenv("TMPDIR") : "";
  ::setenv("TMPDIR", parent.c_str(), 1);
  const int fds_before = open_fd_count();
  {
    FuzzGuest guest;
    const std::string volume = guest.mount_temp_volume("volume");
    body(guest);
    for (const auto& entry : fs::directory_iterator(parent)) {
      if (entry.path() != volume) fuzz_failure("a file appeared outside the volume: " + entry.path().string());
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
  if (!parent_empty) fuzz_failure("the volume's directory outlived the guest, or something escaped it");
  if (open_fd_count() != fds_before) fuzz_failure("host fds leaked past the guest's context");
}

}  // namespace hyperlet::fuzz
