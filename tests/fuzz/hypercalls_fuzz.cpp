// Fuzz target: the hypercalls a compromised or buggy guest kernel could make
// (vm/hypercalls.h), served by the HypercallHandler the run loop uses, with the
// real host syscall table, over real guest memory and a read-write volume at
// /data, without KVM. The app itself cannot make hypercalls (ring 3, IOPL 0),
// but their argument structs carry the app's numbers, and a guest kernel that
// went wrong must cost no more than its own VM.
//
// Invariants: the two of fuzz_guest.h, and the guest's page tables (kernel-only
// memory from layout.page_tables_base up) unchanged by every hypercall whose
// argument struct lies elsewhere: the host gives back, maps a file over or
// writes into app memory only.
//
// Input: up to kMaxCalls records of
//   u8  call       abi::Hypercall, modulo kCount
//   u8  where      bit 0 set: the argument struct is at heap_start + offset
//                  (app memory); else at abi::kHypercallArgsAddr, as the guest
//                  kernel passes it
//   u16 offset
//   u8  length, bytes[length]                  the struct's bytes (zeros after them)
//   u16 place_at, u8 length, bytes[length]     bytes placed at heap_start + place_at
// A hypercall that ends the run (exit, fault, deadlock, a refused argument) ends
// the input, as it ends the run loop.
//
// HYPERLET_FUZZ_TRACE=1 prints each hypercall and how it ended.
#include <hyperlet/abi.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz_guest.h"
#include "fuzz_target.h"
#include "loader/symbols.h"
#include "vm/hypercalls.h"

namespace hyperlet {
namespace {

constexpr int kMaxCalls = 16;
constexpr std::size_t kArgumentRoom = 256;  // more than any argument struct

std::uint64_t page_tables_digest(const fuzz::FuzzGuest& guest) {
  const std::uint64_t base = guest.layout_.page_tables_base;
  auto tables = guest.memory_->span(base, guest.memory_->size() - base);
  if (!tables) fuzz::fuzz_failure("the page tables lie outside guest memory");
  return XXH3_64bits(tables->data(), tables->size());
}

void place(fuzz::FuzzGuest& guest, std::uint64_t address, std::basic_string_view<std::uint8_t> bytes,
           std::size_t room) {
  if (auto target = guest.memory_->span(address, room)) {
    std::memset(target->data(), 0, room);
    std::memcpy(target->data(), bytes.data(), std::min(bytes.size(), room));
  }
}

void run_hypercalls(fuzz::InputReader& input, fuzz::FuzzGuest& guest) {
  static const bool trace = std::getenv("HYPERLET_FUZZ_TRACE") != nullptr;
  const SymbolTable symbols;
  HypercallHandler handler(*guest.memory_, guest.layout_, *guest.context_, guest.table_, false, true,
                           [&]() -> const SymbolTable& { return symbols; });
  const std::uint64_t heap = guest.layout_.heap_start;
  for (int i = 0; i < kMaxCalls && !input.empty(); ++i) {
    const std::uint64_t call = input.take<std::uint8_t>() % static_cast<std::uint64_t>(abi::Hypercall::kCount);
    const bool in_app_memory = (input.take<std::uint8_t>() & 1) != 0;
    const std::uint64_t address = in_app_memory ? heap + input.take<std::uint16_t>() : abi::kHypercallArgsAddr;
    if (!in_app_memory) input.take<std::uint16_t>();
    place(guest, address, input.take_bytes(input.take<std::uint8_t>()), kArgumentRoom);
    const auto place_at = input.take<std::uint16_t>();
    const auto bytes = input.take_bytes(input.take<std::uint8_t>());
    place(guest, heap + place_at, bytes, bytes.size());
    const std::uint64_t tables_before = page_tables_digest(guest);
    std::optional<Result<int>> ended;
    {
      fuzz::CallDeadline deadline;
      ended = handler.handle(call, address);
    }
    if (page_tables_digest(guest) != tables_before) {
      fuzz::fuzz_failure(std::string("hypercall ") + std::string(hypercall_name(call)) + " changed the page tables");
    }
    if (trace) {
      std::fprintf(stderr, "hypercall %s(%#llx): %s\n", std::string(hypercall_name(call)).c_str(),
                   static_cast<unsigned long long>(address),
                   !ended   ? "goes on"
                   : *ended ? "run ends with a status"
                            : (*ended).error().message.c_str());
    }
    if (ended) return;
  }
}

}  // namespace
}  // namespace hyperlet

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hyperlet::fuzz::run_contained([&](hyperlet::fuzz::FuzzGuest& guest) {
    hyperlet::fuzz::InputReader input(data, size);
    hyperlet::run_hypercalls(input, guest);
  });
  return 0;
}
