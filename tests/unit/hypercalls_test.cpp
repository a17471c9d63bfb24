// Hostile and broken hypercall arguments, as a compromised or buggy guest
// kernel could pass them, served without KVM over a real GuestMemory.
#include "vm/hypercalls.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>
#include <sys/syscall.h>

#include <array>
#include <cstdlib>
#include <string>

#include "memory/bus_errors.h"

namespace hyperlet {
namespace {

constexpr std::uint64_t kMemory = 16ull << 20;

class HypercallsTest : public ::testing::Test {
 protected:
  HypercallsTest()
      : memory_(*GuestMemory::create(kMemory)),
        layout_(*compute_guest_layout(kMemory, abi::kUserSpaceStart, abi::kUserSpaceStart + 0x10000)),
        context_(memory_, layout_, "/app"),
        handler_(memory_, layout_, context_, table_, false, false,
                 [this]() -> const SymbolTable& { return symbols_; }) {
    table_.add(SYS_getpid, [](SyscallContext&, const SyscallArguments& a) -> std::int64_t {
      return static_cast<std::int64_t>(a[0] + 1);
    });
  }

  std::optional<Result<int>> call(abi::Hypercall which, std::uint64_t address = abi::kHypercallArgsAddr) {
    return handler_.handle(static_cast<std::uint64_t>(which), address);
  }

  std::int64_t discard(std::uint64_t address, std::uint64_t length) {
    memory_.write(abi::kHypercallArgsAddr, abi::DiscardArgs{address, length, 12345});
    EXPECT_FALSE(call(abi::Hypercall::kDiscard).has_value());
    return memory_.read<abi::DiscardArgs>(abi::kHypercallArgsAddr)->result;
  }

  GuestMemory memory_;
  GuestLayout layout_;
  SyscallContext context_;
  HostSyscallTable table_;
  SymbolTable symbols_;
  HypercallHandler handler_;
};

TEST_F(HypercallsTest, ExitReturnsTheLowByteOfTheStatus) {
  memory_.write(abi::kHypercallArgsAddr, abi::ExitArgs{0x12a, 0});
  auto outcome = call(abi::Hypercall::kExit);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_TRUE(outcome->has_value());
  EXPECT_EQ(**outcome, 0x2a);
}

TEST_F(HypercallsTest, ExitBySignalEndsWithShellStatusAndNamesTheSignal) {
  memory_.write(abi::kHypercallArgsAddr, abi::ExitArgs{128 + 6, 6});
  auto outcome = call(abi::Hypercall::kExit);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->has_value());
  EXPECT_EQ(static_cast<int>(outcome->error().status), 134);
  EXPECT_EQ(outcome->error().message, "app killed by SIGABRT (Aborted)");
}

TEST_F(HypercallsTest, HostSyscallWritesTheResultBack) {
  abi::SyscallArgs args{};
  args.number = SYS_getpid;
  args.args[0] = 41;
  memory_.write(abi::kHypercallArgsAddr, args);
  EXPECT_FALSE(call(abi::Hypercall::kHostSyscall).has_value());
  EXPECT_EQ(memory_.read<abi::SyscallArgs>(abi::kHypercallArgsAddr)->result, 42);
}

TEST_F(HypercallsTest, UnknownHostSyscallIsEnosys) {
  abi::SyscallArgs args{};
  args.number = 100000;
  memory_.write(abi::kHypercallArgsAddr, args);
  EXPECT_FALSE(call(abi::Hypercall::kHostSyscall).has_value());
  EXPECT_EQ(memory_.read<abi::SyscallArgs>(abi::kHypercallArgsAddr)->result, -ENOSYS);
}

TEST_F(HypercallsTest, ArgumentAddressOutsideGuestMemoryEndsTheRun) {
  for (auto which : {abi::Hypercall::kExit, abi::Hypercall::kHostSyscall, abi::Hypercall::kFault,
                     abi::Hypercall::kDiscard, abi::Hypercall::kTrace}) {
    for (std::uint64_t address : std::array<std::uint64_t, 3>{kMemory, kMemory - 4, ~0ull - 4}) {
      auto outcome = call(which, address);
      ASSERT_TRUE(outcome.has_value()) << hypercall_name(static_cast<std::uint64_t>(which));
      ASSERT_FALSE(outcome->has_value());
      EXPECT_EQ(outcome->error().status, ExitStatus::kVmFailure);
      EXPECT_NE(outcome->error().message.find("outside guest memory"), std::string::npos);
    }
  }
}

TEST_F(HypercallsTest, UnknownHypercallEndsTheRun) {
  auto outcome = handler_.handle(999, abi::kHypercallArgsAddr);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->has_value());
  EXPECT_NE(outcome->error().message.find("unknown hypercall 999"), std::string::npos);
}

TEST_F(HypercallsTest, DiscardZeroesAppPages) {
  const std::uint64_t page = layout_.heap_start;
  memory_.write<std::uint64_t>(page, 0xfeed);
  EXPECT_EQ(discard(page, abi::kPageSize), 0);
  EXPECT_EQ(*memory_.read<std::uint64_t>(page), 0u);
}

TEST_F(HypercallsTest, DiscardRefusesKernelMemoryAndPageTables) {
  memory_.write<std::uint64_t>(abi::kKernelImageBase, 0xfeed);
  EXPECT_EQ(discard(abi::kKernelImageBase, abi::kPageSize), -EINVAL);
  EXPECT_EQ(*memory_.read<std::uint64_t>(abi::kKernelImageBase), 0xfeedu);
  EXPECT_EQ(discard(layout_.page_tables_base, abi::kPageSize), -EINVAL);
  EXPECT_EQ(discard(layout_.page_tables_base - abi::kPageSize, 2 * abi::kPageSize), -EINVAL);
}

TEST_F(HypercallsTest, DiscardRefusesUnalignedWrappingAndHugeRanges) {
  EXPECT_EQ(discard(layout_.heap_start + 1, abi::kPageSize), -EINVAL);
  EXPECT_EQ(discard(layout_.heap_start, 100), -EINVAL);
  EXPECT_EQ(discard(layout_.heap_start, ~0ull - abi::kPageSize + 1), -EINVAL);
  EXPECT_EQ(discard(~0ull & ~(abi::kPageSize - 1), 2 * abi::kPageSize), -EINVAL);
}

// ---- kFileMapping: MAP_SHARED as the file's own pages

class FileMappingTest : public HypercallsTest {
 protected:
  FileMappingTest() {
    char name[] = "/tmp/hyperlet-file-mapping-XXXXXX";
    const int fd = ::mkstemp(name);
    path_ = name;
    file_ = UniqueFd(fd);
    std::string bytes(2 * abi::kPageSize, '.');
    bytes.replace(0, 5, "hello");
    EXPECT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  }
  ~FileMappingTest() override { ::unlink(path_.c_str()); }

  // An app fd for the file, opened with `flags`.
  std::uint64_t app_fd(int flags) {
    auto file = std::make_shared<OpenFile>();
    file->owned = UniqueFd(::open(path_.c_str(), flags));
    file->host_fd = file->owned.get();
    file->guest_path = "/data/mapped";
    return static_cast<std::uint64_t>(context_.files.fds.add(std::move(file), false));
  }

  std::int64_t file_mapping(abi::FileMappingOp op, std::uint64_t address, std::uint64_t length, std::uint64_t fd,
                            bool writable = true, std::uint64_t source = 0, std::uint64_t offset = 0) {
    abi::FileMappingArgs args{};
    args.op = op;
    args.writable = writable ? 1 : 0;
    args.address = address;
    args.length = length;
    args.fd = fd;
    args.offset = offset;
    args.source = source;
    args.result = 12345;
    memory_.write(abi::kHypercallArgsAddr, args);
    EXPECT_FALSE(call(abi::Hypercall::kFileMapping).has_value());
    return memory_.read<abi::FileMappingArgs>(abi::kHypercallArgsAddr)->result;
  }

  std::string guest_bytes(std::uint64_t address, std::size_t length) {
    auto bytes = memory_.span(address, length);
    return bytes ? std::string(reinterpret_cast<const char*>(bytes->data()), length) : "<outside>";
  }
  std::string file_bytes(std::size_t length, off_t offset) {
    std::string text(length, '\0');
    EXPECT_EQ(::pread(file_.get(), text.data(), length, offset), static_cast<ssize_t>(length));
    return text;
  }

  std::string path_;
  UniqueFd file_;
  const std::uint64_t page_ = abi::kPageSize;
};

TEST_F(FileMappingTest, MapsTheFilesOwnPagesBothWays) {
  const std::uint64_t at = layout_.heap_start + 16 * page_;
  ASSERT_EQ(file_mapping(abi::FileMappingOp::kMap, at, 2 * page_, app_fd(O_RDWR)), 0);
  EXPECT_EQ(guest_bytes(at, 5), "hello");
  memory_.write_bytes(at + page_, std::as_bytes(std::span("guest", 5)));
  EXPECT_EQ(file_bytes(5, static_cast<off_t>(page_)), "guest");
  ASSERT_EQ(::pwrite(file_.get(), "host", 4, 100), 4);
  EXPECT_EQ(guest_bytes(at + 100, 4), "host");
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kSync, at, 2 * page_, 0), 0);
  EXPECT_EQ(context_.file_mappings.size(), 1u);
  // Discard makes the pages anonymous again: zeros, and the file keeps its bytes.
  EXPECT_EQ(discard(at, 2 * page_), 0);
  EXPECT_EQ(guest_bytes(at, 5), std::string(5, '\0'));
  EXPECT_EQ(file_bytes(5, 0), "hello");
  EXPECT_TRUE(context_.file_mappings.empty());
}

TEST_F(FileMappingTest, RefusesKernelPagesPageTablesAndBadRanges) {
  const std::uint64_t fd = app_fd(O_RDWR);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, abi::kKernelImageBase, page_, fd), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, abi::kHypercallArgsAddr, page_, fd), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, layout_.page_tables_base, page_, fd), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, layout_.page_tables_base - page_, 2 * page_, fd), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, layout_.heap_start + 1, page_, fd), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, layout_.heap_start, 100, fd), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, layout_.heap_start, 0, fd), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, layout_.heap_start, ~0ull - page_ + 1, fd), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, layout_.heap_start, page_, fd, true, 0, 100), -EINVAL);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, layout_.heap_start, page_, fd, true, 0, ~0ull & ~(page_ - 1)),
            -EINVAL);
  EXPECT_EQ(file_mapping(static_cast<abi::FileMappingOp>(77), layout_.heap_start, page_, fd), -EINVAL);
  EXPECT_TRUE(context_.file_mappings.empty());
}

TEST_F(FileMappingTest, FollowsTheFdsAccessAsLinuxDoes) {
  const std::uint64_t at = layout_.heap_start + 16 * page_;
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, at, page_, 999), -EBADF);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, at, page_, app_fd(O_WRONLY), false), -EACCES);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, at, page_, app_fd(O_RDWR | O_APPEND)), -EACCES);
  const std::uint64_t read_only = app_fd(O_RDONLY);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, at, page_, read_only), -EACCES);
  // Read-only: it reads the file, and a store (which Linux would refuse) stays out of it.
  ASSERT_EQ(file_mapping(abi::FileMappingOp::kMap, at, page_, read_only, false), 0);
  EXPECT_EQ(guest_bytes(at, 5), "hello");
  memory_.write_bytes(at, std::as_bytes(std::span("XXXXX", 5)));
  EXPECT_EQ(file_bytes(5, 0), "hello");
  // Only regular files.
  int ends[2];
  ASSERT_EQ(::pipe(ends), 0);
  auto pipe_end = std::make_shared<OpenFile>();
  pipe_end->owned = UniqueFd(ends[0]);
  pipe_end->host_fd = ends[0];
  ::close(ends[1]);
  const int pipe_fd = context_.files.fds.add(std::move(pipe_end), false);
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMap, at, page_, static_cast<std::uint64_t>(pipe_fd), false), -ENODEV);
}

TEST_F(FileMappingTest, MoveMapsTheFileAgainAfterTheFdIsClosed) {
  const std::uint64_t at = layout_.heap_start + 16 * page_;
  const std::uint64_t fd = app_fd(O_RDWR);
  ASSERT_EQ(file_mapping(abi::FileMappingOp::kMap, at, page_, fd), 0);
  ASSERT_EQ(context_.files.fds.close(static_cast<std::int64_t>(fd)), 0);
  const std::uint64_t moved = at + 64 * page_;
  ASSERT_EQ(file_mapping(abi::FileMappingOp::kMove, moved, 2 * page_, 0, true, at), 0);
  EXPECT_EQ(guest_bytes(moved, 5), "hello");
  memory_.write_bytes(moved + page_ + 8, std::as_bytes(std::span("moved", 5)));
  EXPECT_EQ(file_bytes(5, static_cast<off_t>(page_ + 8)), "moved");
  EXPECT_EQ(file_mapping(abi::FileMappingOp::kMove, moved + 128 * page_, page_, 0, true, at + 200 * page_), -ENOENT);
}

// A file that shrinks takes the pages past its end: hyperlet's own read of one
// must not kill it (memory/bus_errors.h).
TEST_F(FileMappingTest, HostReadPastTheShrunkFilesEndIsCaught) {
  const std::uint64_t at = layout_.heap_start + 16 * page_;
  ASSERT_EQ(file_mapping(abi::FileMappingOp::kMap, at, 2 * page_, app_fd(O_RDWR)), 0);
  ASSERT_EQ(::ftruncate(file_.get(), static_cast<off_t>(page_)), 0);
  EXPECT_EQ(bus_errors::take(memory_.host_base()), std::nullopt);
  EXPECT_EQ(memory_.read<std::uint64_t>(at + page_ + 8), 0u);
  EXPECT_EQ(bus_errors::take(memory_.host_base()), at + page_ + 8);
  EXPECT_EQ(bus_errors::take(memory_.host_base()), std::nullopt);
  EXPECT_EQ(guest_bytes(at, 5), "hello");  // the page before the end is still the file's
}

TEST_F(HypercallsTest, FaultFromRing3IsAnAppCrash) {
  abi::FaultArgs fault{};
  fault.vector = static_cast<std::uint64_t>(abi::Exception::kPageFault);
  fault.cs = abi::kUserCodeSelector;
  fault.rip = layout_.image_start;
  fault.cr2 = 0;
  memory_.write(abi::kHypercallArgsAddr, fault);
  auto outcome = call(abi::Hypercall::kFault);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->has_value());
  EXPECT_EQ(outcome->error().status, ExitStatus::kAppSigsegv);
  EXPECT_NE(outcome->error().message.find("null pointer"), std::string::npos);
}

// ---- kVectorState: the vCPU's XSAVE area through the host (kvm_pvm) ----

class VectorStateTest : public HypercallsTest {
 protected:
  std::int64_t vector_state(std::uint64_t save, std::uint64_t load, std::uint64_t size) {
    memory_.write(abi::kHypercallArgsAddr, abi::VectorStateArgs{save, load, size, 12345});
    EXPECT_FALSE(call(abi::Hypercall::kVectorState).has_value());
    return memory_.read<abi::VectorStateArgs>(abi::kHypercallArgsAddr)->result;
  }
  void fake_vcpu(bool refuse_loads = false) {
    for (std::size_t i = 0; i < vcpu_.region.size(); ++i) vcpu_.region[i] = static_cast<std::uint32_t>(i + 1);
    handler_.set_vector_state_access({[this]() -> Result<XsaveArea> { return vcpu_; },
                                      [this, refuse_loads](const XsaveArea& area) -> Result<void> {
                                        if (refuse_loads)
                                          return fail(ExitStatus::kVmFailure, "KVM_SET_XSAVE failed: Invalid argument");
                                        vcpu_ = area;
                                        return {};
                                      }});
  }
  XsaveArea vcpu_{};
};

TEST_F(VectorStateTest, SavesThenLoadsExactlySizeBytes) {
  fake_vcpu();
  constexpr std::uint64_t kSave = 0x200000, kLoad = 0x300000;
  memory_.write(kSave + 2432, std::uint32_t{0xdeadbeef});  // just past the area: must stay
  std::array<std::uint32_t, 608> loaded{};
  loaded.fill(7);
  memory_.write(kLoad, loaded);
  EXPECT_EQ(vector_state(kSave, kLoad, 2432), 0);
  EXPECT_EQ(*memory_.read<std::uint32_t>(kSave), 1u);
  EXPECT_EQ(*memory_.read<std::uint32_t>(kSave + 2428), 608u);
  EXPECT_EQ(*memory_.read<std::uint32_t>(kSave + 2432), 0xdeadbeefu);
  EXPECT_EQ(vcpu_.region[0], 7u);
  EXPECT_EQ(vcpu_.region[607], 7u);
  EXPECT_EQ(vcpu_.region[608], 0u) << "beyond size, a loaded area is zero";
}

TEST_F(VectorStateTest, HostileArgumentsAreRefusedWithoutTouchingTheVcpu) {
  fake_vcpu();
  const XsaveArea before = vcpu_;
  EXPECT_EQ(vector_state(0x200000, 0, 4097), -EINVAL);
  EXPECT_EQ(vector_state(0x200000, 0, ~std::uint64_t{0}), -EINVAL);
  EXPECT_EQ(vector_state(kMemory - 100, 0, 512), -EFAULT);
  EXPECT_EQ(vector_state(0, kMemory - 100, 512), -EFAULT);
  EXPECT_EQ(vector_state(0, ~std::uint64_t{0} - 10, 512), -EFAULT);
  EXPECT_EQ(vector_state(0x200000, kMemory, 512), -EFAULT) << "nothing saved when the load is bad";
  EXPECT_EQ(*memory_.read<std::uint32_t>(0x200000), 0u);
  EXPECT_EQ(vcpu_.region, before.region);
}

TEST_F(VectorStateTest, AnAreaKvmRefusesIsEinval) {
  fake_vcpu(/*refuse_loads=*/true);
  EXPECT_EQ(vector_state(0, 0x300000, 832), -EINVAL);
}

TEST_F(VectorStateTest, WithoutAVcpuItIsEnosys) { EXPECT_EQ(vector_state(0x200000, 0, 832), -ENOSYS); }

// ---- kSyscallSite: a `syscall` the app executed, rewritten to the trap ----

class SyscallSiteTest : public HypercallsTest {
 protected:
  std::int64_t rewrite(std::uint64_t address) {
    memory_.write(abi::kHypercallArgsAddr, abi::SyscallSiteArgs{address, 12345});
    EXPECT_FALSE(call(abi::Hypercall::kSyscallSite).has_value());
    return memory_.read<abi::SyscallSiteArgs>(abi::kHypercallArgsAddr)->result;
  }
  std::array<std::uint8_t, 2> bytes_at(std::uint64_t address) {
    return *memory_.read<std::array<std::uint8_t, 2>>(address);
  }
};

TEST_F(SyscallSiteTest, ASyscallBecomesTheTrapOnce) {
  constexpr std::uint64_t kSite = abi::kUserSpaceStart + 0x1235;  // any alignment
  memory_.write(kSite, std::array<std::uint8_t, 2>{0x0f, 0x05});
  EXPECT_EQ(rewrite(kSite), 0);
  EXPECT_EQ(bytes_at(kSite), (std::array<std::uint8_t, 2>{abi::kSyscallTrapOpcode[0], abi::kSyscallTrapOpcode[1]}));
  EXPECT_EQ(rewrite(kSite), 0) << "another vCPU rewrote it first: nothing to do";
}

TEST_F(SyscallSiteTest, AnythingButAnAppSyscallIsRefusedAndLeftAlone) {
  constexpr std::uint64_t kData = abi::kUserSpaceStart + 0x2000;
  memory_.write(kData, std::array<std::uint8_t, 2>{0x0f, 0x0b});  // ud2
  EXPECT_EQ(rewrite(kData), -EINVAL);
  EXPECT_EQ(bytes_at(kData), (std::array<std::uint8_t, 2>{0x0f, 0x0b}));
  // The guest kernel's own memory (its image, below the app) and the page tables.
  memory_.write(abi::kKernelImageBase, std::array<std::uint8_t, 2>{0x0f, 0x05});
  EXPECT_EQ(rewrite(abi::kKernelImageBase), -EINVAL);
  EXPECT_EQ(bytes_at(abi::kKernelImageBase), (std::array<std::uint8_t, 2>{0x0f, 0x05}));
  memory_.write(layout_.page_tables_base, std::array<std::uint8_t, 2>{0x0f, 0x05});
  EXPECT_EQ(rewrite(layout_.page_tables_base), -EINVAL);
  EXPECT_EQ(bytes_at(layout_.page_tables_base), (std::array<std::uint8_t, 2>{0x0f, 0x05}));
  // Outside guest memory, and wrapping around.
  EXPECT_EQ(rewrite(kMemory - 1), -EINVAL);
  EXPECT_EQ(rewrite(~std::uint64_t{0}), -EINVAL);
  EXPECT_EQ(rewrite(0), -EINVAL);
}

}  // namespace
}  // namespace hyperlet
