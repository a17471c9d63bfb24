#include "core/trace_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>

#include "core/unique_fd.h"

namespace hyperlet {
namespace {

struct TraceOutput {
  std::mutex mutex;
  UniqueFd file;  // --trace-file; stderr when not open
  // Whether hyperlet's stdout is the same file as its stderr (a terminal both
  // go to): then the app's stdout lines share the trace's lines too.
  std::optional<bool> stdout_shares_stderr;
  // The app's last output on the trace's own terminal or file ended mid-line.
  bool mid_line = false;

  int fd() const { return file.get() >= 0 ? file.get() : STDERR_FILENO; }
};

TraceOutput& output() {
  static TraceOutput instance;
  return instance;
}

bool same_file(int a, int b) {
  struct stat first {};
  struct stat second {};
  if (::fstat(a, &first) != 0 || ::fstat(b, &second) != 0) return false;
  return first.st_dev == second.st_dev && first.st_ino == second.st_ino;
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t written = ::write(fd, text.data(), text.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // a trace that cannot be written is not the app's failure
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace

Result<void> open_trace_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600));
  if (fd.get() < 0) return fail(ExitStatus::kUsage, "--trace-file {}: {}", path, std::strerror(errno));
  TraceOutput& state = output();
  std::lock_guard lock(state.mutex);
  state.file = std::move(fd);
  state.mid_line = false;
  return {};
}

void write_trace_line(std::string_view line) {
  TraceOutput& state = output();
  std::string text;
  text.reserve(line.size() + 2);
  std::lock_guard lock(state.mutex);
  if (state.mid_line) text += '\n';
  text += line;
  text += '\n';
  write_all(state.fd(), text);
  state.mid_line = false;
}

void note_app_console_output(int host_fd, char last) {
  TraceOutput& state = output();
  std::lock_guard lock(state.mutex);
  if (state.file.get() >= 0) return;  // the trace has a file of its own
  if (host_fd == STDOUT_FILENO) {
    if (!state.stdout_shares_stderr) state.stdout_shares_stderr = same_file(STDOUT_FILENO, STDERR_FILENO);
    if (!*state.stdout_shares_stderr) return;
  } else if (host_fd != STDERR_FILENO) {
    return;
  }
  state.mid_line = last != '\n';
}

void reset_trace_output() {
  TraceOutput& state = output();
  std::lock_guard lock(state.mutex);
  state.file = UniqueFd();
  state.stdout_shares_stderr.reset();
  state.mid_line = false;
}

}  // namespace hyperlet
