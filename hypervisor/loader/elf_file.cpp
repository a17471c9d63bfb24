#include "loader/elf_file.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "core/checked_range.h"
#include "loader/file_bytes.h"

namespace hyperlet {
namespace {

constexpr std::uint64_t kPage = 4096;
// No sane program has segments beyond this; it also keeps sums from overflowing.
constexpr std::uint64_t kAddressLimit = 1ull << 47;

}  // namespace

Result<ElfFile> parse_elf(std::span<const std::byte> file, const std::string& name, ElfKind kind) {
  auto bad = [&](std::string_view why) { return fail(ExitStatus::kBadImage, "cannot run {}: {}", name, why); };
  Elf64_Ehdr header;
  if (file.size() < SELFMAG || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0) {
    return bad("not an ELF file");
  }
  if (!read_at(file, 0, header)) return bad("truncated ELF header");
  if (header.e_ident[EI_CLASS] != ELFCLASS64) {
    return bad("a 32-bit ELF file; hyperlet runs x86-64 (64-bit) programs");
  }
  if (header.e_ident[EI_DATA] != ELFDATA2LSB) return bad("a big-endian ELF file");
  if (header.e_machine != EM_X86_64) {
    return fail(ExitStatus::kBadImage, "cannot run {}: an ELF file for machine {} (not x86-64)", name,
                header.e_machine);
  }
  if (header.e_type != ET_EXEC && header.e_type != ET_DYN) {
    return bad("not an executable (an object file or core dump?)");
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr)) return bad("unexpected program header size");
  if (header.e_phnum == 0 || header.e_phnum > 256) return bad("bad program header count");

  ElfFile elf{};
  elf.position_independent = header.e_type == ET_DYN;
  elf.entry = header.e_entry;
  elf.program_header_count = header.e_phnum;
  elf.program_header_size = header.e_phentsize;

  std::uint64_t phdr_vaddr = 0;
  bool has_phdr_segment = false;
  for (std::uint16_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!read_at(file, header.e_phoff + std::uint64_t{i} * sizeof(Elf64_Phdr), ph)) {
      return bad("program headers lie outside the file (truncated?)");
    }
    if (ph.p_type == PT_INTERP) {
      return bad("dynamically linked; hyperlet runs static programs (link with -static)");
    }
    if (ph.p_type == PT_PHDR) {
      phdr_vaddr = ph.p_vaddr;
      has_phdr_segment = true;
    }
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz) return bad("a segment's file size exceeds its memory size");
    if (!range_fits(ph.p_offset, ph.p_filesz, file.size())) {
      return bad("a segment's bytes lie outside the file (truncated?)");
    }
    if (!range_fits(ph.p_vaddr, ph.p_memsz, kAddressLimit - 1)) {
      return bad("a segment's address range is out of bounds");
    }
    if (ph.p_align > 1 && (ph.p_vaddr - ph.p_offset) % std::min<std::uint64_t>(ph.p_align, kPage) != 0) {
      return bad("a segment's address and file offset disagree modulo the page size");
    }
    elf.segments.push_back(LoadSegment{ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz, (ph.p_flags & PF_X) != 0,
                                       (ph.p_flags & PF_W) != 0});
  }
  if (elf.segments.empty()) return bad("no loadable segments");
  std::sort(elf.segments.begin(), elf.segments.end(),
            [](const LoadSegment& a, const LoadSegment& b) { return a.virtual_address < b.virtual_address; });
  for (std::size_t i = 1; i < elf.segments.size(); ++i) {
    const LoadSegment& previous = elf.segments[i - 1];
    if (previous.virtual_address + previous.memory_size > elf.segments[i].virtual_address) {
      return bad("loadable segments overlap");
    }
  }
  elf.lowest_address = elf.segments.front().virtual_address & ~(kPage - 1);
  elf.highest_address = elf.segments.back().virtual_address + elf.segments.back().memory_size;

  const bool entry_ok = std::any_of(elf.segments.begin(), elf.segments.end(), [&](const auto& s) {
    return s.executable && elf.entry >= s.virtual_address && elf.entry < s.virtual_address + s.memory_size;
  });
  if (!entry_ok && kind == ElfKind::kProgram) return bad("the entry point lies outside every executable segment");

  if (has_phdr_segment) {
    elf.program_headers_address = phdr_vaddr;
  } else {
    // Static binaries often lack PT_PHDR; the headers are usually in the first segment.
    for (const LoadSegment& segment : elf.segments) {
      const std::uint64_t table_size = std::uint64_t{header.e_phnum} * sizeof(Elf64_Phdr);
      if (range_within(header.e_phoff, table_size, segment.file_offset, segment.file_size)) {
        elf.program_headers_address = segment.virtual_address + (header.e_phoff - segment.file_offset);
        break;
      }
    }
  }
  return elf;
}

}  // namespace hyperlet
