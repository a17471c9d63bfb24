#include "loader/syscall_sites.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <vector>

namespace hyperlet {
namespace {

using ::testing::ElementsAre;

std::vector<std::byte> code(std::initializer_list<int> bytes) {
  std::vector<std::byte> out;
  for (int b : bytes) out.push_back(static_cast<std::byte>(b));
  return out;
}

constexpr std::uint64_t kText = 0x401000;

// The sites of `bytes` as one segment at kText, with the map given.
std::vector<std::uint64_t> sites_with(std::span<const std::byte> bytes, const CodeMap& map) {
  const SiteTable table = find_syscall_sites({CodeSegment{kText, bytes}}, map);
  return table.at(0);
}

// The sites of `bytes` as one function filling one segment.
std::vector<std::uint64_t> find_in_function(std::span<const std::byte> bytes) {
  return sites_with(bytes, CodeMap{.functions = {{kText, bytes.size()}}});
}

TEST(FindSyscallSites, FindsBareSyscall) { EXPECT_THAT(find_in_function(code({0x0f, 0x05})), ElementsAre(0u)); }

TEST(FindSyscallSites, FindsSyscallsBetweenOtherInstructions) {
  const auto bytes = code({
      0xb8, 0x3c, 0x00, 0x00, 0x00,  // 0: mov eax, 60
      0x31, 0xff,                    // 5: xor edi, edi
      0x0f, 0x05,                    // 7: syscall
      0x48, 0x89, 0xc7,              // 9: mov rdi, rax
      0x0f, 0x05,                    // 12: syscall
      0xc3,                          // 14: ret
  });
  EXPECT_THAT(find_in_function(bytes), ElementsAre(7u, 12u));
}

TEST(FindSyscallSites, IgnoresBytesInsideImmediate32) {
  // mov eax, 0x050f  = b8 0f 05 00 00
  EXPECT_TRUE(find_in_function(code({0xb8, 0x0f, 0x05, 0x00, 0x00})).empty());
}

TEST(FindSyscallSites, IgnoresBytesInsideImmediate64) {
  // movabs rax, 0x0000050f0000050f = 48 b8 0f 05 00 00 0f 05 00 00, then a real syscall
  const auto bytes = code({0x48, 0xb8, 0x0f, 0x05, 0x00, 0x00, 0x0f, 0x05, 0x00, 0x00, 0x0f, 0x05});
  EXPECT_THAT(find_in_function(bytes), ElementsAre(10u));
}

TEST(FindSyscallSites, IgnoresBytesInsideDisplacement) {
  // mov eax, [rip + 0x050f] = 8b 05 0f 05 00 00; lea rcx, [rax + 0x50f0f05]
  const auto bytes = code({0x8b, 0x05, 0x0f, 0x05, 0x00, 0x00, 0x48, 0x8d, 0x88, 0x05, 0x0f, 0x05, 0x0f});
  EXPECT_TRUE(find_in_function(bytes).empty());
}

TEST(FindSyscallSites, IgnoresPrefixedAndOtherTwoByteOpcodes) {
  // sysenter (0f 34), sysret (48 0f 07), ud2 (0f 0b): none is a syscall.
  EXPECT_TRUE(find_in_function(code({0x0f, 0x34, 0x48, 0x0f, 0x07, 0x0f, 0x0b})).empty());
}

// 0x06 (push es) is invalid in 64-bit mode: what follows it in the function is
// not provably code. The linear sweep resynchronised and took it.
TEST(FindSyscallSites, StopsAtUndecodableBytes) {
  EXPECT_TRUE(find_in_function(code({0x06, 0x0f, 0x05})).empty());
  EXPECT_THAT(sweep_syscall_sites(code({0x06, 0x0f, 0x05})), ElementsAre(1u));
  EXPECT_THAT(find_in_function(code({0x0f, 0x05, 0x06, 0x06, 0x0f, 0x05, 0x90})), ElementsAre(0u));
}

TEST(FindSyscallSites, TruncatedInstructionAtEnd) {
  // A lone 0f and a mov missing its immediate: nothing found, no overrun.
  EXPECT_TRUE(find_in_function(code({0x0f})).empty());
  EXPECT_THAT(find_in_function(code({0x0f, 0x05, 0xb8, 0x0f})), ElementsAre(0u));
  EXPECT_TRUE(sweep_syscall_sites(code({0x0f})).empty());
}

TEST(FindSyscallSites, EmptyCode) {
  EXPECT_TRUE(find_syscall_sites({}, CodeMap{}).empty());
  EXPECT_TRUE(find_in_function({}).empty());
}

// Without a map nothing is code: a site missed faults clearly when it runs,
// a data byte rewritten would corrupt the app silently.
TEST(FindSyscallSites, NothingIsCodeWithoutAMap) {
  EXPECT_TRUE(sites_with(code({0x0f, 0x05, 0xc3}), CodeMap{}).empty());
}

// The bug this analysis fixes: a data table in .text between two functions
// (as OpenSSL puts its P-256 table) holds 0f 05. A linear sweep takes it for a
// syscall and the rewrite corrupts the table; only the functions are code.
TEST(FindSyscallSites, DataBetweenFunctionsIsNotCode) {
  const auto bytes = code({
      0xb8, 0x27, 0x00, 0x00, 0x00,  // 0: first: mov eax, 39
      0x0f, 0x05,                    // 5: syscall
      0xc3,                          // 7: ret
      0x11, 0x22, 0x0f, 0x05,        // 8: table (no symbol, or an OBJECT symbol)
      0x0f, 0x05, 0x33, 0xc0,        // 12
      0x0f, 0x05,                    // 16: second: syscall
      0xc3,                          // 18: ret
  });
  const CodeMap map{.functions = {{kText, 8}, {kText + 16, 3}}};
  EXPECT_THAT(sites_with(bytes, map), ElementsAre(5u, 16u));
  EXPECT_THAT(sweep_syscall_sites(bytes), ElementsAre(5u, 10u, 12u, 16u));
}

// Literal data inside a function's range, jumped over: after an unconditional
// jmp only a branch target is code again.
TEST(FindSyscallSites, LiteralDataAfterAJumpIsNotCode) {
  const auto bytes = code({
      0xeb, 0x04,              // 0: jmp 6
      0x0f, 0x05, 0x0f, 0x05,  // 2: data
      0x0f, 0x05,              // 6: syscall
      0xc3,                    // 8: ret
  });
  EXPECT_THAT(find_in_function(bytes), ElementsAre(6u));
  EXPECT_THAT(sweep_syscall_sites(bytes), ElementsAre(2u, 4u, 6u));
}

// Code after a ret that a branch reaches (a cold path) is code.
TEST(FindSyscallSites, FollowsBranchesPastARet) {
  const auto bytes = code({
      0x85, 0xff,  // 0: test edi, edi
      0x74, 0x01,  // 2: je 5
      0xc3,        // 4: ret
      0x0f, 0x05,  // 5: syscall
      0xc3,        // 7: ret
      0x0f, 0x05,  // 8: never reached
  });
  EXPECT_THAT(find_in_function(bytes), ElementsAre(5u));
}

// A sized data object inside a function's range is data whatever else says code.
TEST(FindSyscallSites, DataObjectsWin) {
  const auto bytes = code({0x0f, 0x05, 0x0f, 0x05, 0xc3});
  const CodeMap map{.functions = {{kText, bytes.size()}}, .data_objects = {{kText + 2, 2}}};
  EXPECT_THAT(sites_with(bytes, map), ElementsAre(0u));
}

// Assembly without .size (musl's __clone): an entry point whose code is
// followed by control flow alone, into a function nothing else names.
TEST(FindSyscallSites, FollowsEntryPointsAndCallsWithoutSizes) {
  const auto bytes = code({
      0xe8, 0x03, 0x00, 0x00, 0x00,  // 0: entry: call 8
      0x0f, 0x05,                    // 5: syscall
      0xf4,                          // 7: hlt
      0x0f, 0x05,                    // 8: callee: syscall
      0xc3,                          // 10: ret
      0x0f, 0x05,                    // 11: after the ret: not reached
  });
  EXPECT_THAT(sites_with(bytes, CodeMap{.entry_points = {kText}}), ElementsAre(5u, 8u));
}

// Falling off the end of a sized function (after a call that does not return)
// does not run on into what follows it.
TEST(FindSyscallSites, DoesNotFallOffTheEndOfASizedFunction) {
  const auto bytes = code({
      0xe8, 0xfb, 0xff, 0xff, 0xff,  // 0: call 0 (say, abort: it does not return)
      0x0f, 0x05,                    // 5: data after the function
  });
  EXPECT_TRUE(sites_with(bytes, CodeMap{.functions = {{kText, 5}}}).empty());
}

// glibc's clone ends its FDE just before its `syscall` (the child's unwind info
// would be wrong): falling off the end after anything but a call runs on.
TEST(FindSyscallSites, RunsOnPastAnFdeThatEndsEarly) {
  const auto bytes = code({0xb8, 0x38, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3});  // mov eax, 56 | syscall; ret
  EXPECT_THAT(sites_with(bytes, CodeMap{.functions = {{kText, 5}}}), ElementsAre(5u));
}

// A position-independent switch: lea rdx, [rip + table]; jmp rdx (the loads
// between do not matter). The case is reached only through the table.
TEST(FindSyscallSites, FollowsRelativeJumpTables) {
  constexpr std::uint64_t kTable = 0x500000;
  const auto disp = static_cast<std::uint32_t>(kTable - (kText + 7));
  auto bytes = code({0x48, 0x8d, 0x15, 0,    0,    0,    0,           // 0: lea rdx, [rip + table]
                     0xff, 0xe2,                                      // 7: jmp rdx
                     0x0f, 0x05,                                      // 9: not reached
                     0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0x0f, 0x05,  // 0x11: the case: syscall
                     0xc3});
  std::memcpy(bytes.data() + 3, &disp, 4);
  const std::vector<std::int32_t> entries = {static_cast<std::int32_t>(kText + 0x11 - kTable), 0x7fffffff};
  std::vector<std::byte> table(entries.size() * 4);
  std::memcpy(table.data(), entries.data(), table.size());
  const CodeMap map{.functions = {{kText, bytes.size()}}};
  EXPECT_THAT(find_syscall_sites({CodeSegment{kText, bytes}}, map, {CodeSegment{kTable, table}}).at(0),
              ElementsAre(0x11u));
  EXPECT_TRUE(sites_with(bytes, map).empty());  // without the table's bytes: not provably code
}

// A non-PIC switch: jmp [table + rax * 8] with absolute entries.
TEST(FindSyscallSites, FollowsAbsoluteJumpTables) {
  constexpr std::uint64_t kTable = 0x500000;
  const auto bytes = code({0xff, 0x24, 0xc5, 0x00, 0x00, 0x50, 0x00,  // 0: jmp [rax * 8 + 0x500000]
                           0x0f, 0x05,                                // 7: not reached
                           0x0f, 0x05, 0xc3});                        // 9: the case
  const std::vector<std::uint64_t> entries = {kText + 9, 0x1234};
  std::vector<std::byte> table(entries.size() * 8);
  std::memcpy(table.data(), entries.data(), table.size());
  const CodeMap map{.functions = {{kText, bytes.size()}}};
  EXPECT_THAT(find_syscall_sites({CodeSegment{kText, bytes}}, map, {CodeSegment{kTable, table}}).at(0),
              ElementsAre(9u));
}

// Hostile maps: ranges outside the code, wrapping past 2^64, branches out of it.
TEST(FindSyscallSites, HostileMapsFindNothingOutsideTheCode) {
  const auto bytes = code({0xe9, 0xf0, 0xff, 0xff, 0xff, 0x0f, 0x05, 0xc3});  // jmp -16; syscall; ret
  const CodeMap map{.functions = {{~std::uint64_t{0} - 2, 8}, {0, kText}, {kText + 100, 10}},
                    .entry_points = {kText, 0, ~std::uint64_t{0}},
                    .data_objects = {{~std::uint64_t{0} - 2, 8}}};
  EXPECT_TRUE(sites_with(bytes, map).empty());
}

TEST(FindSyscallSites, SeveralSegments) {
  const auto first = code({0xe9, 0xfb, 0x0f, 0x00, 0x00});  // jmp kText + 0x1000
  const auto second = code({0x0f, 0x05, 0xc3});
  const SiteTable table = find_syscall_sites({CodeSegment{kText, first}, CodeSegment{kText + 0x1000, second}},
                                             CodeMap{.entry_points = {kText}});
  ASSERT_EQ(table.size(), 2u);
  EXPECT_TRUE(table[0].empty());
  EXPECT_THAT(table[1], ElementsAre(0u));
}

TEST(RewriteSyscallSites, WritesTrapOpcode) {
  auto bytes = code({0x31, 0xff, 0x0f, 0x05, 0xb8, 0x0f, 0x05, 0x00, 0x00, 0x0f, 0x05});
  const auto sites = find_in_function(bytes);
  ASSERT_THAT(sites, ElementsAre(2u, 9u));
  rewrite_syscall_sites(bytes, sites);
  const auto t0 = static_cast<int>(abi::kSyscallTrapOpcode[0]);
  const auto t1 = static_cast<int>(abi::kSyscallTrapOpcode[1]);
  EXPECT_EQ(t0, 0xcd);
  EXPECT_EQ(t1, 0x81);
  EXPECT_EQ(bytes, code({0x31, 0xff, t0, t1, 0xb8, 0x0f, 0x05, 0x00, 0x00, t0, t1}));
  // The rewritten code decodes to the same instruction boundaries and has no syscall left.
  EXPECT_TRUE(find_in_function(bytes).empty());
}

// `mov $N, %eax; syscall` with N a direct syscall (write = 1, fcntl = 72), and
// `xor %eax, %eax; syscall` (read), become `out %eax, $0x10`; with another N
// (mmap = 9), with the mov not right before, or with too few bytes before the
// site, the trap.
TEST(RewriteSyscallSites, DirectSyscallWhereTheNumberIsMovedRightBefore) {
  auto bytes = code({0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05,          // write: direct
                     0xb8, 0x09, 0x00, 0x00, 0x00, 0x0f, 0x05,          // mmap: trap
                     0xb8, 0x48, 0x00, 0x00, 0x00, 0x90, 0x0f, 0x05,    // fcntl, then a nop: trap
                     0xb8, 0x48, 0x00, 0x00, 0x00, 0x0f, 0x05,          // fcntl: direct
                     0xb8, 0x01, 0x00, 0x00, 0x01, 0x0f, 0x05});        // 0x01000001: trap
  rewrite_syscall_sites(bytes, {5, 12, 20, 27, 34});
  const auto at = [&](std::size_t offset) {
    return std::pair{static_cast<int>(bytes[offset]), static_cast<int>(bytes[offset + 1])};
  };
  EXPECT_EQ(at(5), std::pair(0xe7, 0x10));
  EXPECT_EQ(at(12), std::pair(0xcd, 0x81));
  EXPECT_EQ(at(20), std::pair(0xcd, 0x81));
  EXPECT_EQ(at(27), std::pair(0xe7, 0x10));
  EXPECT_EQ(at(34), std::pair(0xcd, 0x81));
  auto short_prefix = code({0x48, 0x00, 0x00, 0x00, 0x0f, 0x05});
  rewrite_syscall_sites(short_prefix, {4});
  EXPECT_EQ(static_cast<int>(short_prefix[4]), 0xcd);
  // read: `xor %eax, %eax; syscall`; `xor %edi, %edi` (31 ff) is no number.
  auto reads = code({0x31, 0xc0, 0x0f, 0x05, 0x31, 0xff, 0x0f, 0x05});
  rewrite_syscall_sites(reads, {2, 6});
  EXPECT_EQ(static_cast<int>(reads[2]), 0xe7);
  EXPECT_EQ(static_cast<int>(reads[6]), 0xcd);
}

// exit_group (231) and hyperlet's ready() (0x10000001) are direct too: the host
// ends the run, or takes a snapshot in ring 3. glibc's _exit moves 231 into esi
// first and `mov %esi, %eax` right before the syscall; `mov %esi, %eax` without
// that, or with it too far back or another number, stays the trap.
TEST(RewriteSyscallSites, ExitGroupAndReadyAreDirectIncludingGlibcsExit) {
  auto bytes = code({0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05,   // exit_group: direct
                     0xb8, 0x01, 0x00, 0x00, 0x10, 0x0f, 0x05,   // ready(): direct
                     0xb8, 0x3c, 0x00, 0x00, 0x00, 0x0f, 0x05}); // exit (one thread's): trap
  rewrite_syscall_sites(bytes, {5, 12, 19});
  EXPECT_EQ(static_cast<int>(bytes[5]), 0xe7);
  EXPECT_EQ(static_cast<int>(bytes[12]), 0xe7);
  EXPECT_EQ(static_cast<int>(bytes[19]), 0xcd);
  // glibc 2.36's _exit, as linked into a static image.
  auto glibc_exit = code({0x49, 0xc7, 0xc0, 0xb8, 0xff, 0xff, 0xff,  // mov $-72, %r8
                          0xbe, 0xe7, 0x00, 0x00, 0x00,              // mov $231, %esi
                          0xba, 0x3c, 0x00, 0x00, 0x00,              // mov $60, %edx
                          0xeb, 0x12,                                // jmp
                          0x0f, 0x1f, 0x44, 0x00, 0x00,              // nopl
                          0x89, 0xd0, 0x0f, 0x05,                    // mov %edx, %eax; syscall (exit): trap
                          0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff,        // cmp
                          0x77, 0x1c,                                // ja
                          0xf4,                                      // hlt
                          0x89, 0xf0, 0x0f, 0x05});                  // mov %esi, %eax; syscall: direct
  rewrite_syscall_sites(glibc_exit, {26, 39});
  EXPECT_EQ(static_cast<int>(glibc_exit[26]), 0xcd);
  EXPECT_EQ(static_cast<int>(glibc_exit[39]), 0xe7);
  auto far = code({0xbe, 0xe7, 0x00, 0x00, 0x00});
  far.insert(far.end(), 60, std::byte{0x90});
  for (int byte : {0x89, 0xf0, 0x0f, 0x05}) far.push_back(static_cast<std::byte>(byte));
  rewrite_syscall_sites(far, {far.size() - 2});
  EXPECT_EQ(static_cast<int>(far[far.size() - 2]), 0xcd);
  auto other_number = code({0xbe, 0x09, 0x00, 0x00, 0x00, 0x89, 0xf0, 0x0f, 0x05});  // mmap in esi
  rewrite_syscall_sites(other_number, {7});
  EXPECT_EQ(static_cast<int>(other_number[7]), 0xcd);
  auto bare = code({0x89, 0xf0, 0x0f, 0x05});
  rewrite_syscall_sites(bare, {2});
  EXPECT_EQ(static_cast<int>(bare[2]), 0xcd);
}

TEST(RewriteSyscallSites, IgnoresSitesPastTheEnd) {
  auto bytes = code({0x0f, 0x05, 0x90});
  rewrite_syscall_sites(bytes, {2, 3, 100});
  EXPECT_EQ(bytes, code({0x0f, 0x05, 0x90}));
}

// `site + 2` wraps for these; a wrapping check would write before the code.
TEST(RewriteSyscallSites, IgnoresSitesWhoseEndWrapsAround) {
  std::vector<std::byte> memory(16, std::byte{0x90});
  std::span<std::byte> bytes = std::span(memory).subspan(8, 4);
  rewrite_syscall_sites(bytes, {~std::uint64_t{0}, ~std::uint64_t{0} - 1, ~std::uint64_t{0} - 7});
  EXPECT_EQ(memory, std::vector<std::byte>(16, std::byte{0x90}));
}

// A real static binary: every site found is a syscall the linear sweep also
// decodes (it finds a superset: real sites plus data), and there are many.
TEST(FindSyscallSites, RealStaticBinary) {
  std::ifstream in("/bin/busybox", std::ios::binary);
  if (!in) GTEST_SKIP() << "no /bin/busybox (install busybox-static)";
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto file = std::as_bytes(std::span(chars));
  Elf64_Ehdr header;
  ASSERT_GE(chars.size(), sizeof(header));
  std::memcpy(&header, chars.data(), sizeof(header));
  std::vector<CodeSegment> segments;
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, chars.data() + header.e_phoff + i * sizeof(ph), sizeof(ph));
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    ASSERT_LE(ph.p_offset + ph.p_filesz, chars.size());
    segments.push_back({ph.p_vaddr, file.subspan(ph.p_offset, ph.p_filesz)});
  }
  const SiteTable table = find_syscall_sites(segments, code_map_from_elf(file));
  std::size_t found = 0, swept = 0;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    const auto sweep = sweep_syscall_sites(segments[s].bytes);
    for (std::uint64_t site : table[s]) {
      EXPECT_TRUE(std::binary_search(sweep.begin(), sweep.end(), site)) << std::hex << site;
    }
    found += table[s].size();
    swept += sweep.size();
  }
  EXPECT_GT(found, 10u);  // a static libc makes syscalls from many places
  RecordProperty("sites_found", static_cast<int>(found));
  RecordProperty("sites_linear_sweep", static_cast<int>(swept));
}

}  // namespace
}  // namespace hyperlet
