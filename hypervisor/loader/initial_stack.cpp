#include "loader/initial_stack.h"

#include <elf.h>
#include <hyperlet/abi.h>

#include <cstring>

namespace hyperlet {
namespace {

constexpr std::uint64_t kClockTicks = 100;
constexpr std::uint64_t kPageSize = 4096;
constexpr std::uint64_t kMinimumSignalStack = 2048;

}  // namespace

InitialStack build_initial_stack(const InitialStackInput& input) {
  // Strings and random bytes go at the top, pointers below them.
  // Offsets are distances from stack_top, resolved into addresses below.
  std::vector<std::byte> strings;
  auto push_string = [&](const std::string& text) {
    // Prepend so that earlier strings sit higher, like Linux.
    std::vector<std::byte> block(text.size() + 1);
    std::memcpy(block.data(), text.c_str(), text.size() + 1);
    strings.insert(strings.begin(), block.begin(), block.end());
    return static_cast<std::uint64_t>(strings.size());
  };
  const std::uint64_t exec_filename = push_string(input.exec_filename);
  std::vector<std::uint64_t> argument_offsets;
  for (const std::string& argument : input.arguments) argument_offsets.push_back(push_string(argument));
  std::vector<std::uint64_t> environment_offsets;
  for (const std::string& variable : input.environment) environment_offsets.push_back(push_string(variable));
  const std::uint64_t platform = push_string("x86_64");
  std::vector<std::byte> random(16);
  std::memcpy(random.data(), input.random.data(), 16);
  strings.insert(strings.begin(), random.begin(), random.end());
  const std::uint64_t random_offset = strings.size();
  // Pad to 16 bytes.
  strings.insert(strings.begin(), (16 - strings.size() % 16) % 16, std::byte{0});
  const std::uint64_t top = input.stack_top;
  auto address_of = [&](std::uint64_t offset) { return top - offset; };

  std::vector<std::uint64_t> words;
  words.push_back(input.arguments.size());
  for (std::uint64_t offset : argument_offsets) words.push_back(address_of(offset));
  words.push_back(0);
  for (std::uint64_t offset : environment_offsets) words.push_back(address_of(offset));
  words.push_back(0);
  auto aux = [&](std::uint64_t type, std::uint64_t value) {
    words.push_back(type);
    words.push_back(value);
  };
  if (input.vdso != 0) aux(AT_SYSINFO_EHDR, input.vdso);
  aux(AT_HWCAP, input.hwcap);
  aux(AT_PAGESZ, kPageSize);
  aux(AT_CLKTCK, kClockTicks);
  aux(AT_PHDR, input.program_headers);
  aux(AT_PHENT, input.program_header_size);
  aux(AT_PHNUM, input.program_header_count);
  aux(AT_BASE, 0);
  aux(AT_FLAGS, 0);
  aux(AT_ENTRY, input.entry);
  aux(AT_UID, 0);
  aux(AT_EUID, 0);
  aux(AT_GID, 0);
  aux(AT_EGID, 0);
  aux(AT_SECURE, 0);
  aux(AT_RANDOM, address_of(random_offset));
  aux(AT_HWCAP2, 0);
  aux(AT_EXECFN, address_of(exec_filename));
  aux(AT_PLATFORM, address_of(platform));
  aux(AT_MINSIGSTKSZ, kMinimumSignalStack);
  if (input.guest_info != 0) aux(abi::kAuxvGuestInfo, input.guest_info);
  aux(AT_NULL, 0);
  if (words.size() % 2 != 0) words.push_back(0);  // keep argc 16-byte aligned

  InitialStack stack;
  const std::uint64_t word_bytes = words.size() * sizeof(std::uint64_t);
  stack.stack_pointer = top - strings.size() - word_bytes;
  stack.bytes.resize(word_bytes + strings.size());
  std::memcpy(stack.bytes.data(), words.data(), word_bytes);
  std::memcpy(stack.bytes.data() + word_bytes, strings.data(), strings.size());
  return stack;
}

bool leaves_room_to_run(const InitialStack& stack, std::uint64_t stack_bottom) {
  return stack.stack_pointer >= stack_bottom + 4096;
}

}  // namespace hyperlet
