// The snapshot file (snapshot/snapshot_file.cpp) without KVM: written from guest
// memory, read back, and hostile files — every section damaged, truncated,
// runs that overlap or leave guest memory even with valid checksums — refused.
#include "snapshot/snapshot_file.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "memory/guest_memory.h"

namespace hyperlet::snapshot {
namespace {

namespace fs = std::filesystem;

class SnapshotFile : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() / ("hyperlet-snapshot-" + std::to_string(::getpid()));
    fs::create_directories(directory_);
    path_ = (directory_ / "vm.snapshot").string();
    auto memory = GuestMemory::create(8ull << 20);
    ASSERT_TRUE(memory.has_value());
    memory_.emplace(std::move(*memory));
    // Two runs of touched pages: 0x1000-0x3000 and 0x100000.
    std::memset(memory_->span(0x1000, 0x2000)->data(), 0xab, 0x2000);
    std::memset(memory_->span(0x100000, 0x1000)->data(), 0xcd, 0x1000);
    contents_.memory_size = memory_->size();
    contents_.machine = "test machine";
    contents_.vcpu.regs.rip = 0x401000;
    contents_.host = {{"files", {{"fds", nlohmann::json::array()}}}};
    contents_.runs = resident_runs(*memory_);
  }
  void TearDown() override { fs::remove_all(directory_); }

  std::string bytes() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void put(const std::string& bytes) const { std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes; }
  FileHeader header() const {
    FileHeader header{};
    std::memcpy(&header, bytes().data(), sizeof header);
    return header;
  }
  // Replaces the header, with a checksum that matches, so deeper checks are reached.
  void put_header(FileHeader header) const {
    header.header_checksum = XXH3_64bits(&header, offsetof(FileHeader, header_checksum));
    std::string all = bytes();
    std::memcpy(all.data(), &header, sizeof header);
    put(all);
  }
  std::string refusal() const {
    auto file = File::open(path_, "test machine");
    return file ? std::string("(opened)") : file.error().message;
  }

  fs::path directory_;
  std::string path_;
  std::optional<GuestMemory> memory_;
  Contents contents_;
};

TEST_F(SnapshotFile, ResidentRunsAreTheTouchedPages) {
  ASSERT_EQ(contents_.runs.size(), 2u);
  EXPECT_EQ(contents_.runs[0].first_page, 1u);
  EXPECT_EQ(contents_.runs[0].page_count, 2u);
  EXPECT_EQ(contents_.runs[1].first_page, 0x100u);
  EXPECT_EQ(contents_.runs[1].page_count, 1u);
}

TEST_F(SnapshotFile, RoundTripsAndMapsThePagesCopyOnWrite) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());
  auto file = File::open(path_, "test machine");
  ASSERT_TRUE(file.has_value()) << file.error().message;
  EXPECT_EQ(file->contents().vcpu.regs.rip, 0x401000u);
  EXPECT_EQ(file->contents().host, contents_.host);
  auto restored = GuestMemory::create(8ull << 20);
  ASSERT_TRUE(restored.has_value());
  ASSERT_TRUE(file->map_pages(*restored).has_value());
  EXPECT_EQ(std::to_integer<int>(restored->span(0x2fff, 1)->front()), 0xab);
  EXPECT_EQ(std::to_integer<int>(restored->span(0x100000, 1)->front()), 0xcd);
  EXPECT_EQ(std::to_integer<int>(restored->span(0x200000, 1)->front()), 0);
  // A write lands in this VM's copy only, never in the file.
  restored->span(0x1000, 1)->front() = std::byte{0x11};
  auto again = File::open(path_, "test machine");
  ASSERT_TRUE(again.has_value()) << again.error().message;
}

TEST_F(SnapshotFile, AnotherMachinesSnapshotIsRefused) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());
  auto file = File::open(path_, "another machine");
  ASSERT_FALSE(file.has_value());
  EXPECT_NE(file.error().message.find("taken on another machine"), std::string::npos) << file.error().message;
}

TEST_F(SnapshotFile, EverySectionDamagedIsRefused) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());
  const std::string good = bytes();
  const FileHeader header = this->header();
  const struct {
    std::uint64_t offset;
    const char* message;
  } cases[] = {
      {0, "not a hyperlet snapshot"},
      {offsetof(FileHeader, machine), "its header is corrupt"},
      {header.vcpu.offset, "its vCPU section is corrupt"},
      {header.host.offset, "its host state section is corrupt"},
      {header.runs.offset, "its page run section is corrupt"},
      {header.pages.offset + 5000, "its guest pages are corrupt"},
  };
  for (const auto& damage : cases) {
    std::string bytes = good;
    bytes[damage.offset] = static_cast<char>(bytes[damage.offset] ^ 1);
    put(bytes);
    EXPECT_NE(refusal().find(damage.message), std::string::npos) << damage.offset << ": " << refusal();
  }
  for (std::uint64_t length = 0; length < good.size(); length += 1531) {
    put(good.substr(0, length));
    EXPECT_NE(refusal().find("cannot restore"), std::string::npos) << length << ": " << refusal();
  }
}

// Checksums that match do not make hostile numbers acceptable.
TEST_F(SnapshotFile, HostileHeadersWithValidChecksumsAreRefused) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());
  FileHeader header = this->header();
  header.format_version = kFormatVersion + 1;
  put_header(header);
  EXPECT_NE(refusal().find("snapshot format " + std::to_string(kFormatVersion + 1)), std::string::npos) << refusal();
  header = this->header();
  header.format_version = kFormatVersion;
  header.pages.offset = ~0ull - 100;  // wraps with the size
  put_header(header);
  EXPECT_NE(refusal().find("lies outside"), std::string::npos) << refusal();
  header.pages.offset = 4096 * 3 + 1;  // misaligned
  put_header(header);
  EXPECT_NE(refusal().find("cannot restore"), std::string::npos) << refusal();
}

TEST_F(SnapshotFile, RunsThatOverlapOrLeaveMemoryAreRefused) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());  // two runs: 16 bytes each
  const std::string good = bytes();
  const PageRun hostile[][2] = {
      {{1, 2}, {2, 1}},      // overlapping
      {{1, 2}, {2047, 2}},   // past the end of 8 MiB
      {{1, 2}, {~0ull, 3}},  // wrapping
      {{1, 0}, {0x100, 1}},  // empty
      {{0x100, 1}, {1, 2}},  // out of order
  };
  for (const auto& runs : hostile) {
    put(good);
    FileHeader header = this->header();
    std::string all = bytes();
    std::memcpy(all.data() + header.runs.offset, runs, sizeof runs);
    header.runs.checksum = XXH3_64bits(runs, sizeof runs);
    put(all);
    put_header(header);
    EXPECT_NE(refusal().find("its page runs overlap or lie outside guest memory"), std::string::npos)
        << runs[1].first_page << ": " << refusal();
  }
}

// Every restore is a new process: the pages are hashed by the first restore of
// a file, and then known by the file's identity until it changes.
TEST_F(SnapshotFile, PagesAreHashedOnceThenKnownByTheFilesIdentity) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());
  const CheckedSnapshots checked(directory_ / "checked", std::chrono::nanoseconds(0));
  auto first = File::open(path_, "test machine", &checked);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_TRUE(first->pages_hashed());
  auto second = File::open(path_, "test machine", &checked);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_FALSE(second->pages_hashed());
  EXPECT_EQ(second->contents().vcpu.regs.rip, 0x401000u);  // everything but the pages is read and checked
  auto without = File::open(path_, "test machine");
  ASSERT_TRUE(without.has_value());
  EXPECT_TRUE(without->pages_hashed());
  // Another file with the same bytes is another identity.
  const std::string copy = (directory_ / "copy.snapshot").string();
  fs::copy_file(path_, copy);
  auto copied = File::open(copy, "test machine", &checked);
  ASSERT_TRUE(copied.has_value());
  EXPECT_TRUE(copied->pages_hashed());
}

TEST_F(SnapshotFile, APageDamagedAfterACheckIsStillRefused) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());
  const CheckedSnapshots checked(directory_ / "checked", std::chrono::nanoseconds(0));
  ASSERT_TRUE(File::open(path_, "test machine", &checked).has_value());
  ASSERT_FALSE(File::open(path_, "test machine", &checked)->pages_hashed());
  // In place, the size unchanged: only ctime and mtime say it changed, after
  // the file system's timestamp clock has ticked (it may tick every few ms).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::fstream file(path_, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(static_cast<std::streamoff>(header().pages.offset + 5000));
    file.put('\x5a');
  }
  auto damaged = File::open(path_, "test machine", &checked);
  ASSERT_FALSE(damaged.has_value());
  EXPECT_NE(damaged.error().message.find("its guest pages are corrupt"), std::string::npos) << damaged.error().message;
}

// A file that changed within the last second may change again under the same
// timestamp: it is hashed, and not recorded, until it has settled.
TEST_F(SnapshotFile, AFileChangedJustNowIsNotRecorded) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());
  const CheckedSnapshots checked(directory_ / "checked");
  ASSERT_TRUE(File::open(path_, "test machine", &checked).has_value());
  auto again = File::open(path_, "test machine", &checked);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->pages_hashed());
  EXPECT_FALSE(fs::exists(directory_ / "checked"));
}

TEST_F(SnapshotFile, NoCacheDirectoryMeansEveryOpenHashes) {
  ASSERT_TRUE(write(path_, contents_, *memory_).has_value());
  const CheckedSnapshots nowhere(std::nullopt, std::chrono::nanoseconds(0));
  ASSERT_TRUE(File::open(path_, "test machine", &nowhere).has_value());
  auto again = File::open(path_, "test machine", &nowhere);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->pages_hashed());
}

}  // namespace
}  // namespace hyperlet::snapshot
