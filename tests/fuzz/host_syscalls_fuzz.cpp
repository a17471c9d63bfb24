// Fuzz target: a hostile app's forwarded syscalls (abi::Hypercall::kHostSyscall),
// the host's largest attack surface. Each input is a short program of syscalls
// with arguments and bytes placed in app memory beforehand, run through the same
// host syscall table a microVM reaches (devices/host_syscalls.h), over real
// guest memory and a read-write volume at /data, without KVM.
//
// Beyond "no crash, no sanitizer report", the two invariants of fuzz_guest.h:
// nothing created on the host outside the volume's directory, no host fd leaked.
//
// Input: up to kMaxCalls records of
//   u16 selector   syscall number: selector % 460, or with bit 15 set one of
//                  hyperlet's own (abi.h, 0x10000000 + low 4 bits)
//   u8  pointers   bit i set: argument i is an app-memory address,
//                  heap_start + (its low 16 bits), so pointers land where the
//                  placed bytes are
//   u64 args[6]
//   u16 place_at   offset from heap_start of the bytes that follow
//   u8  length     how many bytes to place (strings, structs, iovecs)
//   bytes[length]
//
// HYPERLET_FUZZ_TRACE=1 prints each call and its result (to see what an input does).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz_guest.h"
#include "fuzz_target.h"

namespace hyperlet {
namespace {

constexpr int kMaxCalls = 16;
constexpr std::uint64_t kLinuxSyscalls = 460;
constexpr std::uint64_t kHyperletSyscallBase = 0x10000000;

void run_calls(fuzz::InputReader& input, fuzz::FuzzGuest& guest) {
  static const bool trace = std::getenv("HYPERLET_FUZZ_TRACE") != nullptr;
  const std::uint64_t heap = guest.layout_.heap_start;
  for (int call = 0; call < kMaxCalls && !input.empty(); ++call) {
    const auto selector = input.take<std::uint16_t>();
    const auto pointers = input.take<std::uint8_t>();
    SyscallArguments args{};
    for (auto& arg : args) arg = input.take<std::uint64_t>();
    const auto place_at = input.take<std::uint16_t>();
    const auto bytes = input.take_bytes(input.take<std::uint8_t>());
    auto target = guest.memory_->span(heap + place_at, bytes.size());
    if (target && !bytes.empty()) std::memcpy(target->data(), bytes.data(), bytes.size());
    for (std::size_t i = 0; i < args.size(); ++i) {
      if ((pointers >> i) & 1) args[i] = heap + (args[i] & 0xffff);
    }
    const std::uint64_t number =
        (selector & 0x8000) != 0 ? kHyperletSyscallBase + (selector & 0xf) : selector % kLinuxSyscalls;
    std::int64_t result;
    {
      fuzz::CallDeadline deadline;
      result = guest.call(number, args);
    }
    if (trace) {
      std::fprintf(stderr, "syscall %#llx(%#llx, %#llx, %#llx, %#llx, %#llx, %#llx) = %lld\n",
                   static_cast<unsigned long long>(number), static_cast<unsigned long long>(args[0]),
                   static_cast<unsigned long long>(args[1]), static_cast<unsigned long long>(args[2]),
                   static_cast<unsigned long long>(args[3]), static_cast<unsigned long long>(args[4]),
                   static_cast<unsigned long long>(args[5]), static_cast<long long>(result));
    }
  }
}

}  // namespace
}  // namespace hyperlet

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hyperlet::fuzz::run_contained([&](hyperlet::fuzz::FuzzGuest& guest) {
    hyperlet::fuzz::InputReader input(data, size);
    hyperlet::run_calls(input, guest);
  });
  return 0;
}
