#include "loader/initial_stack.h"

#include <elf.h>

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hyperlet {
namespace {

constexpr std::uint64_t kStackTop = 0x7ff000;

InitialStackInput make_input(std::vector<std::string> arguments, std::vector<std::string> environment) {
  InitialStackInput input{};
  input.stack_top = kStackTop;
  input.arguments = std::move(arguments);
  input.environment = std::move(environment);
  input.exec_filename = "/apps/hello";
  input.program_headers = 0x400040;
  input.program_header_count = 7;
  input.program_header_size = sizeof(Elf64_Phdr);
  input.entry = 0x401bc0;
  input.vdso = 0;
  input.hwcap = 0x178bfbff;
  for (std::size_t i = 0; i < input.random.size(); ++i) {
    input.random[i] = static_cast<std::uint8_t>(0xa0 + i);
  }
  return input;
}

// Reads the block back the way a libc's _start would, with bounds checks.
class StackReader {
 public:
  StackReader(const InitialStack& stack, std::uint64_t top) : stack_(stack), top_(top) {}

  bool contains(std::uint64_t address, std::uint64_t length) const {
    return address >= stack_.stack_pointer && address <= top_ && length <= top_ - address;
  }
  std::uint64_t word(std::uint64_t address) const {
    EXPECT_TRUE(contains(address, 8)) << std::hex << address;
    if (!contains(address, 8)) return 0;
    std::uint64_t value;
    std::memcpy(&value, stack_.bytes.data() + (address - stack_.stack_pointer), 8);
    return value;
  }
  std::optional<std::string> string(std::uint64_t address) const {
    if (!contains(address, 1)) return std::nullopt;
    std::string out;
    for (std::uint64_t a = address; a < top_; ++a) {
      const char c = static_cast<char>(stack_.bytes[a - stack_.stack_pointer]);
      if (c == '\0') return out;
      out.push_back(c);
    }
    return std::nullopt;  // unterminated
  }
  std::vector<std::byte> bytes(std::uint64_t address, std::uint64_t length) const {
    if (!contains(address, length)) return {};
    const auto* begin = stack_.bytes.data() + (address - stack_.stack_pointer);
    return std::vector<std::byte>(begin, begin + length);
  }

 private:
  const InitialStack& stack_;
  std::uint64_t top_;
};

struct Parsed {
  std::uint64_t argc = 0;
  std::vector<std::uint64_t> argv;
  std::vector<std::uint64_t> envp;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> auxv;  // in order, AT_NULL included
  std::map<std::uint64_t, std::uint64_t> aux;
};

Parsed parse_stack(const StackReader& reader, std::uint64_t sp) {
  Parsed parsed;
  std::uint64_t at = sp;
  parsed.argc = reader.word(at);
  at += 8;
  for (std::uint64_t i = 0; i < parsed.argc; ++i, at += 8) parsed.argv.push_back(reader.word(at));
  EXPECT_EQ(reader.word(at), 0u) << "argv is not NULL-terminated";
  at += 8;
  for (int guard = 0; guard < 1000; ++guard, at += 8) {
    const std::uint64_t pointer = reader.word(at);
    if (pointer == 0) break;
    parsed.envp.push_back(pointer);
  }
  at += 8;
  for (int guard = 0; guard < 100; ++guard, at += 16) {
    const std::uint64_t type = reader.word(at);
    const std::uint64_t value = reader.word(at + 8);
    parsed.auxv.emplace_back(type, value);
    EXPECT_EQ(parsed.aux.count(type), 0u) << "duplicate auxv entry " << type;
    parsed.aux[type] = value;
    if (type == AT_NULL) break;
  }
  return parsed;
}

TEST(InitialStack, ArgumentsEnvironmentAndStrings) {
  const auto input = make_input({"/apps/hello", "first", "", "third arg"}, {"HOME=/", "LANG=C.UTF-8"});
  const InitialStack stack = build_initial_stack(input);
  ASSERT_EQ(stack.bytes.size(), kStackTop - stack.stack_pointer);
  const StackReader reader(stack, kStackTop);
  const Parsed parsed = parse_stack(reader, stack.stack_pointer);

  ASSERT_EQ(parsed.argc, 4u);
  ASSERT_EQ(parsed.argv.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_GE(parsed.argv[i], stack.stack_pointer);
    EXPECT_LT(parsed.argv[i], kStackTop);
    EXPECT_EQ(reader.string(parsed.argv[i]), input.arguments[i]) << "argv[" << i << "]";
  }
  ASSERT_EQ(parsed.envp.size(), 2u);
  EXPECT_EQ(reader.string(parsed.envp[0]), "HOME=/");
  EXPECT_EQ(reader.string(parsed.envp[1]), "LANG=C.UTF-8");
  // Strings must not overlap the pointer area: every string lies above the auxv.
  const std::uint64_t auxv_end = stack.stack_pointer + 8 * (1 + 4 + 1 + 2 + 1) + 16 * parsed.auxv.size();
  for (std::uint64_t p : parsed.argv) EXPECT_GE(p, auxv_end);
  for (std::uint64_t p : parsed.envp) EXPECT_GE(p, auxv_end);
}

TEST(InitialStack, AuxiliaryVector) {
  const auto input = make_input({"hello"}, {});
  const InitialStack stack = build_initial_stack(input);
  const StackReader reader(stack, kStackTop);
  const Parsed parsed = parse_stack(reader, stack.stack_pointer);
  ASSERT_FALSE(parsed.auxv.empty());
  EXPECT_EQ(parsed.auxv.back().first, static_cast<std::uint64_t>(AT_NULL));
  EXPECT_EQ(parsed.auxv.back().second, 0u);
  const auto& aux = parsed.aux;
  ASSERT_EQ(aux.count(AT_PHDR), 1u);
  EXPECT_EQ(aux.at(AT_PHDR), 0x400040u);
  EXPECT_EQ(aux.at(AT_PHNUM), 7u);
  EXPECT_EQ(aux.at(AT_PHENT), sizeof(Elf64_Phdr));
  EXPECT_EQ(aux.at(AT_PAGESZ), 4096u);
  EXPECT_EQ(aux.at(AT_ENTRY), 0x401bc0u);
  EXPECT_EQ(aux.at(AT_SECURE), 0u);
  EXPECT_EQ(aux.at(AT_UID), 0u);
  EXPECT_EQ(aux.at(AT_EUID), 0u);
  EXPECT_EQ(aux.at(AT_GID), 0u);
  EXPECT_EQ(aux.at(AT_EGID), 0u);
  EXPECT_EQ(aux.at(AT_CLKTCK), 100u);
  EXPECT_EQ(aux.at(AT_HWCAP), 0x178bfbffu);
  EXPECT_EQ(aux.at(AT_BASE), 0u);
  EXPECT_EQ(aux.count(AT_SYSINFO_EHDR), 0u);

  ASSERT_EQ(aux.count(AT_RANDOM), 1u);
  const auto random = reader.bytes(aux.at(AT_RANDOM), 16);
  ASSERT_EQ(random.size(), 16u);
  EXPECT_EQ(std::memcmp(random.data(), input.random.data(), 16), 0);

  ASSERT_EQ(aux.count(AT_EXECFN), 1u);
  EXPECT_EQ(reader.string(aux.at(AT_EXECFN)), "/apps/hello");
  ASSERT_EQ(aux.count(AT_PLATFORM), 1u);
  EXPECT_EQ(reader.string(aux.at(AT_PLATFORM)), "x86_64");
}

TEST(InitialStack, VdsoEntryPresentOnlyWithVdso) {
  auto input = make_input({"hello"}, {"A=1"});
  {
    const InitialStack stack = build_initial_stack(input);
    const Parsed parsed = parse_stack(StackReader(stack, kStackTop), stack.stack_pointer);
    EXPECT_EQ(parsed.aux.count(AT_SYSINFO_EHDR), 0u);
  }
  input.vdso = 0x40000;
  const InitialStack stack = build_initial_stack(input);
  const Parsed parsed = parse_stack(StackReader(stack, kStackTop), stack.stack_pointer);
  ASSERT_EQ(parsed.aux.count(AT_SYSINFO_EHDR), 1u);
  EXPECT_EQ(parsed.aux.at(AT_SYSINFO_EHDR), 0x40000u);
  EXPECT_EQ(parsed.auxv.back().first, static_cast<std::uint64_t>(AT_NULL));
}

TEST(InitialStack, RandomBytesAreSixteenByteAlignedAndInsideBlock) {
  const auto input = make_input({"a"}, {});
  const InitialStack stack = build_initial_stack(input);
  const Parsed parsed = parse_stack(StackReader(stack, kStackTop), stack.stack_pointer);
  const std::uint64_t random = parsed.aux.at(AT_RANDOM);
  EXPECT_GE(random, stack.stack_pointer);
  EXPECT_LE(random + 16, kStackTop);
}

// argc must sit at a 16-byte aligned address whatever the parity of the counts.
class InitialStackAlignment : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(InitialStackAlignment, StackPointerIsSixteenByteAligned) {
  const auto [argument_count, environment_count, string_length] = GetParam();
  std::vector<std::string> arguments;
  for (int i = 0; i < argument_count; ++i) arguments.push_back(std::string(string_length + i, 'a'));
  std::vector<std::string> environment;
  for (int i = 0; i < environment_count; ++i) {
    environment.push_back("V" + std::to_string(i) + "=" + std::string(string_length, 'x'));
  }
  const auto input = make_input(arguments, environment);
  const InitialStack stack = build_initial_stack(input);
  EXPECT_EQ(stack.stack_pointer % 16, 0u);
  EXPECT_EQ(stack.stack_pointer + stack.bytes.size(), kStackTop);
  const StackReader reader(stack, kStackTop);
  const Parsed parsed = parse_stack(reader, stack.stack_pointer);
  ASSERT_EQ(parsed.argc, static_cast<std::uint64_t>(argument_count));
  ASSERT_EQ(parsed.envp.size(), static_cast<std::size_t>(environment_count));
  for (int i = 0; i < argument_count; ++i) EXPECT_EQ(reader.string(parsed.argv[i]), arguments[i]);
  for (int i = 0; i < environment_count; ++i) EXPECT_EQ(reader.string(parsed.envp[i]), environment[i]);
  EXPECT_EQ(parsed.auxv.back().first, static_cast<std::uint64_t>(AT_NULL));
}

INSTANTIATE_TEST_SUITE_P(Counts, InitialStackAlignment,
                         ::testing::Combine(::testing::Range(0, 6), ::testing::Range(0, 6),
                                            ::testing::Values(1, 6)));

}  // namespace
}  // namespace hyperlet
