// Where --trace lines go (core/trace_output.cpp): whole lines, on a line of
// their own after the app's unfinished output, or into --trace-file.
#include "core/trace_output.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hyperlet {
namespace {

class TraceOutput : public ::testing::Test {
 protected:
  TraceOutput() : directory_(std::filesystem::temp_directory_path() / ("trace_output_" + std::to_string(getpid()))) {
    std::filesystem::create_directories(directory_);
    reset_trace_output();
  }
  ~TraceOutput() override {
    reset_trace_output();
    std::filesystem::remove_all(directory_);
  }
  static std::string contents(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::filesystem::path directory_;
};

TEST_F(TraceOutput, LinesGoToStderrWhole) {
  ::testing::internal::CaptureStderr();
  write_trace_line("read(0, \"\", 1) = 0");
  write_trace_line("exit_group(0)");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "read(0, \"\", 1) = 0\nexit_group(0)\n");
}

TEST_F(TraceOutput, ALineAfterTheAppsUnfinishedLineStartsOnItsOwn) {
  ::testing::internal::CaptureStderr();
  note_app_console_output(2, 'x');  // the app wrote "...x" to its stderr, no newline
  write_trace_line("first");
  write_trace_line("second");  // already at a line start
  note_app_console_output(2, '\n');
  write_trace_line("third");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "\nfirst\nsecond\nthird\n");
}

TEST_F(TraceOutput, StdoutCountsOnlyWhenItIsTheSameFileAsStderr) {
  // Captured, stderr is a file of its own: the app's stdout cannot break its lines.
  ::testing::internal::CaptureStderr();
  note_app_console_output(1, 'x');
  write_trace_line("line");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "line\n");
}

TEST_F(TraceOutput, TraceFileIsCreatedPrivateAndTruncated) {
  const auto path = directory_ / "trace";
  std::ofstream(path) << "old contents that must go\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ASSERT_TRUE(open_trace_file(path.string()));
  ::testing::internal::CaptureStderr();
  note_app_console_output(2, 'x');  // the app's stderr has nothing to do with the file
  write_trace_line("write(1, \"hi\", 2) = 2");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(contents(path), "write(1, \"hi\", 2) = 2\n");

  const auto fresh = directory_ / "fresh";
  const mode_t old_mask = ::umask(0);
  ASSERT_TRUE(open_trace_file(fresh.string()));
  ::umask(old_mask);
  struct stat info {};
  ASSERT_EQ(::stat(fresh.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(TraceOutput, AFileThatCannotBeOpenedIsAUsageErrorNamingIt) {
  const auto path = directory_ / "missing" / "trace";
  auto opened = open_trace_file(path.string());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().status, ExitStatus::kUsage);
  EXPECT_EQ(opened.error().message, "--trace-file " + path.string() + ": No such file or directory");
  auto directory = open_trace_file(directory_.string());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().message, "--trace-file " + directory_.string() + ": Is a directory");
}

}  // namespace
}  // namespace hyperlet
