// Runs a child process for the integration tests: feeds it stdin, captures its
// stdout and stderr separately, and kills it if it outlives a safety timeout,
// so that a hanging hyperlet fails a test instead of blocking the suite.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hyperlet::testing {

struct ProcessResult {
  // The exit status as a shell reports it: the exit code, or 128 + signal.
  int status = -1;
  bool killed_by_safety_timeout = false;
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
  // The host CPU (user + system) the process used, its threads included.
  std::chrono::milliseconds cpu_time{0};
  // Set when the process could not be started at all.
  std::string spawn_error;
  // Set when it could not be reaped even after SIGKILL (status then -1).
  std::string wait_error;
};

struct ProcessOptions {
  std::string stdin_data;
  // Added to the test's own environment (the child inherits both).
  std::vector<std::string> extra_environment;
  std::chrono::milliseconds safety_timeout{std::chrono::seconds(30)};
  // Leave stdin open (and empty) until the child ends, instead of EOF at once.
  bool keep_stdin_open = false;
};

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Why /dev/kvm cannot be used here, or an empty string when it can.
std::string kvm_unusable_reason();

// Why the executable at `path` is not a static-pie (position-independent, no
// dynamic loader: hyperlet's and hyperlet-runc's link), or "" when it is one.
std::string static_pie_problem(const std::string& path);

// A result as a failing assertion should show it: status, stdout, stderr.
std::string describe(const ProcessResult& result);

// A whole file's bytes (empty if it cannot be read).
std::string read_file(const std::string& path);

// A port on 127.0.0.1 that was free a moment ago (SOCK_STREAM or SOCK_DGRAM).
int free_port(int type = 1 /* SOCK_STREAM */);

// One HTTP/1.0 GET of `path` from 127.0.0.1:port, retried for up to 10 s while
// the server starts; the whole response ("" if it never answered).
std::string http_get(int port, const std::string& path);

// A process in the background, stdin from /dev/null and stdout into a file
// (stderr stays the test's); killed with SIGKILL and reaped if still running
// when it goes out of scope.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& stdout_path);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  int pid() const { return pid_; }
  // Waits for it; its status as a shell reports it.
  int wait();

 private:
  int pid_ = -1;
  int status_ = -1;
};

// A fresh directory under the system's temporary directory, removed with
// everything in it when the test ends.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "hyperlet-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace hyperlet::testing
