// AppImage (loader/app_image.cpp): the file is read, never mapped, so nothing a
// later change to the file does can reach hyperlet.
#include "loader/app_image.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace hyperlet {
namespace {

namespace fs = std::filesystem;

class AppImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "no /bin/busybox (install busybox-static)";
    directory_ = fs::temp_directory_path() / ("hyperlet-image-" + std::to_string(::getpid()));
    fs::create_directories(directory_);
    path_ = (directory_ / "app").string();
    fs::copy_file("/bin/busybox", path_);
  }
  void TearDown() override { fs::remove_all(directory_); }
  fs::path directory_;
  std::string path_;
};

TEST_F(AppImageTest, ReadsOnlyTheHeadersUntilAskedForMore) {
  auto image = AppImage::open(path_);
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_EQ(image->bytes().size(), fs::file_size(path_));
  const LoadSegment* code = nullptr;
  for (const LoadSegment& segment : image->elf().segments) {
    if (segment.executable) code = &segment;
  }
  ASSERT_NE(code, nullptr);
  // Code that was not read yet reads as zero (reserved, never backed) ...
  const auto unread = image->bytes().subspan(code->file_offset + code->file_size / 2, 64);
  EXPECT_EQ(std::vector<std::byte>(unread.begin(), unread.end()), std::vector<std::byte>(64));
  // ... and as the file after read_code().
  ASSERT_TRUE(image->read_code().has_value());
  std::ifstream file(path_, std::ios::binary);
  std::vector<char> expected(64);
  file.seekg(static_cast<std::streamoff>(code->file_offset + code->file_size / 2));
  file.read(expected.data(), 64);
  EXPECT_EQ(std::memcmp(unread.data(), expected.data(), 64), 0);
}

// Truncated after opening: reads fail with a line (no SIGBUS, as a mapping gave),
// and the symbol tables of a changed file are not read at all.
TEST_F(AppImageTest, ATruncatedFileIsAnErrorNotASignal) {
  auto image = AppImage::open(path_);
  ASSERT_TRUE(image.has_value()) << image.error().message;
  ASSERT_EQ(::truncate(path_.c_str(), 100), 0);
  EXPECT_FALSE(image->read_symbols());
  auto code = image->read_code();
  ASSERT_FALSE(code.has_value());
  EXPECT_NE(code.error().message.find("shrank while it was being read"), std::string::npos) << code.error().message;
  std::vector<std::byte> target(4096);
  EXPECT_FALSE(image->read_into(target, 8192).has_value());
  EXPECT_GT(image->elf().segments.size(), 0u);  // what was read stays valid
}

TEST_F(AppImageTest, SymbolsAreReadOnlyFromTheFileThatWasOpened) {
  auto image = AppImage::open(path_);
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_TRUE(image->read_symbols());
  // Same size, rewritten in place: another file as far as names go.
  std::fstream(path_, std::ios::in | std::ios::out | std::ios::binary).write("X", 1);
  EXPECT_FALSE(image->read_symbols());
}

}  // namespace
}  // namespace hyperlet
