#include "loader/syscall_sites.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <vector>

namespace hyperlet {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::byte> code(std::initializer_list<int> bytes) {
  std::vector<std::byte> out;
  for (int b : bytes) out.push_back(static_cast<std::byte>(b));
  return out;
}

TEST(FindSyscallSites, FindsBareSyscall) { EXPECT_THAT(find_syscall_sites(code({0x0f, 0x05})), ElementsAre(0u)); }

TEST(FindSyscallSites, FindsSyscallsBetweenOtherInstructions) {
  const auto bytes = code({
      0xb8, 0x3c, 0x00, 0x00, 0x00,  // 0: mov eax, 60
      0x31, 0xff,                    // 5: xor edi, edi
      0x0f, 0x05,                    // 7: syscall
      0x48, 0x89, 0xc7,              // 9: mov rdi, rax
      0x0f, 0x05,                    // 12: syscall
      0xc3,                          // 14: ret
  });
  EXPECT_THAT(find_syscall_sites(bytes), ElementsAre(7u, 12u));
}

TEST(FindSyscallSites, IgnoresBytesInsideImmediate32) {
  // mov eax, 0x050f  = b8 0f 05 00 00
  EXPECT_THAT(find_syscall_sites(code({0xb8, 0x0f, 0x05, 0x00, 0x00})), IsEmpty());
}

TEST(FindSyscallSites, IgnoresBytesInsideImmediate64) {
  // movabs rax, 0x0000050f0000050f = 48 b8 0f 05 00 00 0f 05 00 00, then a real syscall
  const auto bytes = code({0x48, 0xb8, 0x0f, 0x05, 0x00, 0x00, 0x0f, 0x05, 0x00, 0x00, 0x0f, 0x05});
  EXPECT_THAT(find_syscall_sites(bytes), ElementsAre(10u));
}

TEST(FindSyscallSites, IgnoresBytesInsideDisplacement) {
  // mov eax, [rip + 0x050f] = 8b 05 0f 05 00 00; lea rcx, [rax + 0x50f0f05]
  const auto bytes = code({0x8b, 0x05, 0x0f, 0x05, 0x00, 0x00, 0x48, 0x8d, 0x88, 0x05, 0x0f, 0x05, 0x0f});
  EXPECT_THAT(find_syscall_sites(bytes), IsEmpty());
}

TEST(FindSyscallSites, IgnoresPrefixedAndOtherTwoByteOpcodes) {
  // sysenter (0f 34), sysret (48 0f 07), ud2 (0f 0b): none is a syscall.
  EXPECT_THAT(find_syscall_sites(code({0x0f, 0x34, 0x48, 0x0f, 0x07, 0x0f, 0x0b})), IsEmpty());
}

TEST(FindSyscallSites, ResynchronisesAfterUndecodableBytes) {
  // 0x06 (push es) is invalid in 64-bit mode; then a syscall.
  EXPECT_THAT(find_syscall_sites(code({0x06, 0x0f, 0x05})), ElementsAre(1u));
  EXPECT_THAT(find_syscall_sites(code({0x06, 0x06, 0x06, 0x0f, 0x05, 0x90})), ElementsAre(3u));
}

TEST(FindSyscallSites, TruncatedInstructionAtEnd) {
  // A lone 0f and a mov missing its immediate: nothing found, no overrun.
  EXPECT_THAT(find_syscall_sites(code({0x0f})), IsEmpty());
  EXPECT_THAT(find_syscall_sites(code({0x0f, 0x05, 0xb8, 0x0f})), ElementsAre(0u));
}

TEST(FindSyscallSites, EmptyCode) { EXPECT_THAT(find_syscall_sites({}), IsEmpty()); }

TEST(RewriteSyscallSites, WritesTrapOpcode) {
  auto bytes = code({0x31, 0xff, 0x0f, 0x05, 0xb8, 0x0f, 0x05, 0x00, 0x00, 0x0f, 0x05});
  const auto sites = find_syscall_sites(bytes);
  ASSERT_THAT(sites, ElementsAre(2u, 9u));
  rewrite_syscall_sites(bytes, sites);
  const auto t0 = static_cast<int>(abi::kSyscallTrapOpcode[0]);
  const auto t1 = static_cast<int>(abi::kSyscallTrapOpcode[1]);
  EXPECT_EQ(t0, 0xcd);
  EXPECT_EQ(t1, 0x81);
  EXPECT_EQ(bytes, code({0x31, 0xff, t0, t1, 0xb8, 0x0f, 0x05, 0x00, 0x00, t0, t1}));
  // The rewritten code decodes to the same instruction boundaries and has no syscall left.
  EXPECT_THAT(find_syscall_sites(bytes), IsEmpty());
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

TEST(FindSyscallSites, RealStaticBinary) {
  std::ifstream in("/bin/busybox", std::ios::binary);
  if (!in) GTEST_SKIP() << "no /bin/busybox (install busybox-static)";
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Elf64_Ehdr header;
  ASSERT_GE(chars.size(), sizeof(header));
  std::memcpy(&header, chars.data(), sizeof(header));
  std::size_t total = 0;
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, chars.data() + header.e_phoff + i * sizeof(ph), sizeof(ph));
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    ASSERT_LE(ph.p_offset + ph.p_filesz, chars.size());
    std::vector<std::byte> text(ph.p_filesz);
    std::memcpy(text.data(), chars.data() + ph.p_offset, ph.p_filesz);
    const auto sites = find_syscall_sites(text);
    for (std::uint64_t site : sites) {
      ASSERT_LT(site + 1, text.size());
      EXPECT_EQ(text[site], std::byte{0x0f});
      EXPECT_EQ(text[site + 1], std::byte{0x05});
    }
    total += sites.size();
  }
  EXPECT_GT(total, 10u);  // a static libc makes syscalls from many places
}

}  // namespace
}  // namespace hyperlet
