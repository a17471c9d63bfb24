#include "loader/syscall_sites.h"

#include <Zydis/Zydis.h>
#include <hyperlet/abi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "core/checked_range.h"
#include "loader/instruction_decoder.h"

namespace hyperlet {
namespace {

// Callers (app_image.cpp, manifest_writer.cpp) load Zydis and fail with its
// error first; here it is known to be loaded.
const InstructionDecoder& zydis() {
  auto decoder = instruction_decoder();
  if (!decoder) {
    fmt::print(stderr, "hyperlet: {}\n", decoder.error().message);
    std::abort();
  }
  return **decoder;
}

ZydisDecoder minimal_decoder() {
  ZydisDecoder decoder;
  zydis().decoder_init(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  // Lengths, mnemonics and raw immediates are all we need; skipping operand
  // detail is much faster.
  zydis().decoder_enable_mode(&decoder, ZYDIS_DECODER_MODE_MINIMAL, ZYAN_TRUE);
  return decoder;
}

bool is_syscall(const ZydisDecodedInstruction& instruction) {
  // Only the plain two bytes: the trap that replaces them is two bytes too.
  return instruction.mnemonic == ZYDIS_MNEMONIC_SYSCALL && instruction.length == 2;
}

// Does execution never continue at the next instruction? (A call is assumed
// to return: a call to a noreturn function is followed by more of the same
// function, or by its end.)
bool ends_flow(const ZydisDecodedInstruction& instruction) {
  switch (instruction.mnemonic) {
    case ZYDIS_MNEMONIC_JMP:
    case ZYDIS_MNEMONIC_RET:
    case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD:
    case ZYDIS_MNEMONIC_IRETQ:
    case ZYDIS_MNEMONIC_SYSRET:
    case ZYDIS_MNEMONIC_SYSEXIT:
    case ZYDIS_MNEMONIC_UD0:
    case ZYDIS_MNEMONIC_UD1:
    case ZYDIS_MNEMONIC_UD2:
    case ZYDIS_MNEMONIC_HLT:
      return true;
    default:
      return false;
  }
}

// Non-overlapping [start, end) intervals: the union of the sized functions.
struct Interval {
  std::uint64_t start;
  std::uint64_t end;
};

std::vector<Interval> merge(std::vector<AddressRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const AddressRange& a, const AddressRange& b) { return a.start < b.start; });
  std::vector<Interval> merged;
  for (const AddressRange& range : ranges) {
    const auto end = checked_add(range.start, range.size);
    if (!end || range.size == 0) continue;
    // Overlapping ranges are one function (an FDE and its symbol, aliases);
    // merely touching ones stay two, so nothing falls from one into the next.
    if (!merged.empty() && range.start < merged.back().end) {
      merged.back().end = std::max(merged.back().end, *end);
    } else {
      merged.push_back({range.start, *end});
    }
  }
  return merged;
}

constexpr std::size_t kNoFunction = ~std::size_t{0};
constexpr std::uint64_t kMaxJumpTableEntries = 1 << 16;

// A worklist traversal of the code from every known start. Each instruction
// start is decoded once, so the work is bounded by the code's size however
// the branches go.
class CodeWalk {
 public:
  CodeWalk(const std::vector<CodeSegment>& code, const CodeMap& map, const std::vector<CodeSegment>& data)
      : code_(code),
        data_segments_(data),
        functions_(merge(map.functions)),
        jumps_(functions_.size()),
        decoder_(minimal_decoder()) {
    for (const CodeSegment& segment : code_) {
      visited_.emplace_back(segment.bytes.size(), false);
      queued_.emplace_back(segment.bytes.size(), false);
      data_.emplace_back(segment.bytes.size(), false);
      sites_.emplace_back();
    }
    for (const AddressRange& object : map.data_objects) mark_data(object);
    for (const Interval& function : functions_) push(function.start);
    for (std::uint64_t entry : map.entry_points) push(entry);
  }

  SiteTable run() {
    do {
      while (!work_.empty()) {
        const Work work = work_.back();
        work_.pop_back();
        walk(work);
      }
      for (std::size_t function = 0; function < functions_.size(); ++function) follow_jump_tables(function);
    } while (!work_.empty());
    for (auto& sites : sites_) std::sort(sites.begin(), sites.end());
    return std::move(sites_);
  }

 private:
  struct Work {
    std::size_t segment;
    std::uint64_t offset;
    std::uint64_t limit;   // offset where the function ends (or the segment)
    std::size_t function;  // index in functions_, or kNoFunction
  };

  // What a function's indirect jumps may go through: the tables its
  // rip-relative LEAs point at (position-independent `switch`: entries are
  // 32-bit offsets from the table) and the tables `jmp [table + index * 8]`
  // names (absolute entries).
  struct JumpTables {
    bool jumps_through_register = false;
    std::vector<std::uint64_t> relative;  // LEA targets
    std::vector<std::uint64_t> absolute;
    std::size_t absolute_done = 0;  // how many were followed already
  };

  void mark_data(const AddressRange& object) {
    for (std::size_t s = 0; s < code_.size(); ++s) {
      const std::uint64_t segment_start = code_[s].address;
      const std::uint64_t segment_end = segment_start + code_[s].bytes.size();
      const auto object_end = checked_add(object.start, object.size);
      if (!object_end) continue;
      const std::uint64_t from = std::max(object.start, segment_start);
      const std::uint64_t to = std::min(*object_end, segment_end);
      for (std::uint64_t address = from; address < to; ++address) data_[s][address - segment_start] = true;
    }
  }

  // Where decoding at `offset` of segment `s` may run to: the end of the
  // function it lies in, or of its segment when no sized function covers it.
  Work bounded(std::size_t s, std::uint64_t offset) const {
    const std::uint64_t address = code_[s].address + offset;
    Work work{s, offset, code_[s].bytes.size(), kNoFunction};
    auto after = std::upper_bound(functions_.begin(), functions_.end(), address,
                                  [](std::uint64_t value, const Interval& f) { return value < f.start; });
    if (after != functions_.begin() && address < std::prev(after)->end) {
      work.limit = std::min(work.limit, std::prev(after)->end - code_[s].address);
      work.function = static_cast<std::size_t>(std::prev(after) - functions_.begin());
    }
    return work;
  }

  // Queues decoding at `address`, if it lies in the code.
  void push(std::uint64_t address) {
    for (std::size_t s = 0; s < code_.size(); ++s) {
      if (!range_within(address, 1, code_[s].address, code_[s].bytes.size())) continue;
      const std::uint64_t offset = address - code_[s].address;
      // Each start is queued once, even when it turns out not to decode.
      if (queued_[s][offset] || visited_[s][offset] || data_[s][offset]) return;
      queued_[s][offset] = true;
      work_.push_back(bounded(s, offset));
      return;
    }
  }

  // Reads a T from the loaded data segments (never the code: a table there
  // would be indistinguishable from code).
  template <typename T>
  std::optional<T> read_data(std::uint64_t address) const {
    for (const CodeSegment& segment : data_segments_) {
      if (!range_within(address, sizeof(T), segment.address, segment.bytes.size())) continue;
      T value;
      std::memcpy(&value, segment.bytes.data() + (address - segment.address), sizeof(T));
      return value;
    }
    return std::nullopt;
  }

  // Entries are taken while every one read lands inside the function that
  // jumps through the table; a relative table also ends where the next table
  // the function names begins.
  void follow_jump_tables(std::size_t function) {
    JumpTables& tables = jumps_[function];
    const Interval& extent = functions_[function];
    auto inside = [&](std::uint64_t target) { return target >= extent.start && target < extent.end; };
    if (tables.jumps_through_register) {
      std::sort(tables.relative.begin(), tables.relative.end());
      tables.relative.erase(std::unique(tables.relative.begin(), tables.relative.end()), tables.relative.end());
      for (std::size_t t = 0; t < tables.relative.size(); ++t) {
        const std::uint64_t table = tables.relative[t];
        const std::uint64_t next_table = t + 1 < tables.relative.size() ? tables.relative[t + 1] : ~std::uint64_t{0};
        for (std::uint64_t entry = 0; entry < kMaxJumpTableEntries; ++entry) {
          const std::uint64_t at = table + entry * 4;
          if (at < table || at >= next_table) break;
          const auto offset = read_data<std::int32_t>(at);
          if (!offset || !inside(table + static_cast<std::uint64_t>(std::int64_t{*offset}))) break;
          push(table + static_cast<std::uint64_t>(std::int64_t{*offset}));
        }
      }
    }
    for (; tables.absolute_done < tables.absolute.size(); ++tables.absolute_done) {
      const std::uint64_t table = tables.absolute[tables.absolute_done];
      for (std::uint64_t entry = 0; entry < kMaxJumpTableEntries; ++entry) {
        const auto target = read_data<std::uint64_t>(table + entry * 8);
        if (!target || !inside(*target)) break;
        push(*target);
      }
    }
  }

  void note_indirect_flow(const ZydisDecodedInstruction& instruction, std::uint64_t next_address,
                          std::size_t function) {
    if (function == kNoFunction) return;
    const auto& modrm = instruction.raw.modrm;
    const auto& sib = instruction.raw.sib;
    const std::uint64_t displacement = static_cast<std::uint64_t>(instruction.raw.disp.value);
    if (instruction.mnemonic == ZYDIS_MNEMONIC_LEA && modrm.mod == 0 && modrm.rm == 5) {
      jumps_[function].relative.push_back(next_address + displacement);  // lea reg, [rip + disp]
    } else if (instruction.mnemonic == ZYDIS_MNEMONIC_JMP && (instruction.attributes & ZYDIS_ATTRIB_IS_RELATIVE) == 0) {
      if (modrm.mod == 0 && modrm.rm == 4 && sib.base == 5 && sib.scale == 3) {
        jumps_[function].absolute.push_back(displacement);  // jmp [disp32 + index * 8]
      } else {
        jumps_[function].jumps_through_register = true;
      }
    }
  }

  void walk(Work work) {
    const CodeSegment& segment = code_[work.segment];
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(segment.bytes.data());
    auto& visited = visited_[work.segment];
    const auto& data = data_[work.segment];
    std::uint64_t offset = work.offset;
    ZydisDecodedInstruction instruction{};
    while (true) {
      if (offset >= work.limit) {
        // Off the end of a function. After a call, what follows may be data
        // (the callee need not return); after anything else the code really
        // runs on (glibc's clone ends its FDE just before its `syscall`).
        if (offset >= segment.bytes.size() || instruction.mnemonic == ZYDIS_MNEMONIC_CALL) return;
        work = bounded(work.segment, offset);
      }
      if (visited[offset] || data[offset]) return;
      const ZyanStatus status =
          zydis().decode_instruction(&decoder_, nullptr, bytes + offset, work.limit - offset, &instruction);
      // Not an instruction, or one running into data: whatever this is, it is
      // not provably code, and neither is what follows it.
      if (!ZYAN_SUCCESS(status) || data[offset + instruction.length - 1]) return;
      visited[offset] = true;
      if (is_syscall(instruction)) sites_[work.segment].push_back(offset);
      note_indirect_flow(instruction, segment.address + offset + instruction.length, work.function);
      if ((instruction.attributes & ZYDIS_ATTRIB_IS_RELATIVE) != 0 && instruction.raw.imm[0].is_relative) {
        // jmp, jcc, call, loop, jrcxz, xbegin: the target is code too.
        push(segment.address + offset + instruction.length +
             static_cast<std::uint64_t>(instruction.raw.imm[0].value.s));
      }
      if (ends_flow(instruction)) return;
      offset += instruction.length;
    }
  }

  const std::vector<CodeSegment>& code_;
  const std::vector<CodeSegment>& data_segments_;
  std::vector<Interval> functions_;  // sorted, disjoint
  std::vector<JumpTables> jumps_;    // per function
  ZydisDecoder decoder_;
  std::vector<std::vector<bool>> visited_;  // per segment: instruction starts decoded
  std::vector<std::vector<bool>> queued_;   // per segment: starts pushed
  std::vector<std::vector<bool>> data_;     // per segment: bytes of data objects
  SiteTable sites_;
  std::vector<Work> work_;
};

}  // namespace

SiteTable find_syscall_sites(const std::vector<CodeSegment>& code, const CodeMap& map,
                             const std::vector<CodeSegment>& data) {
  return CodeWalk(code, map, data).run();
}

std::vector<std::uint64_t> sweep_syscall_sites(std::span<const std::byte> code) {
  const ZydisDecoder decoder = minimal_decoder();
  std::vector<std::uint64_t> sites;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(code.data());
  std::uint64_t offset = 0;
  ZydisDecodedInstruction instruction;
  while (offset < code.size()) {
    const ZyanStatus status =
        zydis().decode_instruction(&decoder, nullptr, bytes + offset, code.size() - offset, &instruction);
    if (!ZYAN_SUCCESS(status)) {
      ++offset;  // data or padding: resynchronise one byte later
      continue;
    }
    if (is_syscall(instruction)) sites.push_back(offset);
    offset += instruction.length;
  }
  return sites;
}

std::span<const std::uint8_t, 2> rewritten_syscall(std::span<const std::byte> code, std::uint64_t site) {
  const auto byte = [&](std::uint64_t offset) { return static_cast<std::uint8_t>(code[offset]); };
  constexpr std::uint8_t kMovImm32ToEax = 0xb8;
  if (site >= 5 && range_fits(site - 5, 5, code.size()) && byte(site - 5) == kMovImm32ToEax) {
    std::uint32_t number = 0;
    std::memcpy(&number, code.data() + site - 4, sizeof number);
    if (abi::is_direct_syscall(number)) return std::span(abi::kDirectSyscallOpcode);
  }
  // `xor %eax, %eax` (31 c0): read, as glibc's read wrapper sets it.
  if (site >= 2 && range_fits(site - 2, 2, code.size()) && byte(site - 2) == 0x31 && byte(site - 1) == 0xc0 &&
      abi::is_direct_syscall(0)) {
    return std::span(abi::kDirectSyscallOpcode);
  }
  // glibc's _exit keeps exit_group's number in esi across its retry loop:
  // `mov $231, %esi` (be e7 00 00 00) a few instructions before `mov %esi, %eax;
  // syscall` (89 f0 0f 05). Every program ends there once.
  constexpr std::uint64_t kExitNumberLookBack = 48;
  if (site >= 2 && range_fits(site - 2, 2, code.size()) && byte(site - 2) == 0x89 && byte(site - 1) == 0xf0) {
    constexpr std::uint8_t kMovExitGroupToEsi[5] = {0xbe, abi::kExitGroupSyscall, 0, 0, 0};
    const std::uint64_t move_end = site - 2;
    const std::uint64_t first = move_end > kExitNumberLookBack ? move_end - kExitNumberLookBack : 0;
    for (std::uint64_t at = first; at + sizeof kMovExitGroupToEsi <= move_end; ++at) {
      if (std::memcmp(code.data() + at, kMovExitGroupToEsi, sizeof kMovExitGroupToEsi) == 0) {
        return std::span(abi::kDirectSyscallOpcode);
      }
    }
  }
  return std::span(abi::kSyscallTrapOpcode);
}

void rewrite_syscall_sites(std::span<std::byte> code, const std::vector<std::uint64_t>& sites) {
  for (std::uint64_t site : sites) {
    if (!range_fits(site, 2, code.size())) continue;
    std::memcpy(code.data() + site, rewritten_syscall(code, site).data(), 2);
  }
}

}  // namespace hyperlet
