// Builds small ELF64 images in memory for the loader tests: a header, program
// headers, optional section headers and raw bytes placed at chosen offsets.
// Fields are plain <elf.h> structs so a test can break any one of them.
#pragma once

#include <elf.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

namespace hyperlet::testing {

inline Elf64_Phdr program_header(std::uint32_t type, std::uint32_t flags, std::uint64_t offset,
                                 std::uint64_t vaddr, std::uint64_t filesz, std::uint64_t memsz,
                                 std::uint64_t align = 0x1000) {
  Elf64_Phdr ph{};
  ph.p_type = type;
  ph.p_flags = flags;
  ph.p_offset = offset;
  ph.p_vaddr = vaddr;
  ph.p_paddr = vaddr;
  ph.p_filesz = filesz;
  ph.p_memsz = memsz;
  ph.p_align = align;
  return ph;
}

struct ElfImage {
  Elf64_Ehdr header{};
  std::vector<Elf64_Phdr> program_headers;
  std::vector<Elf64_Shdr> section_headers;
  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> blobs;  // (file offset, bytes)
  std::uint64_t file_size = 0x3000;  // writes past it are dropped (to make truncated files)
  bool set_counts = true;            // fill e_phnum / e_shnum from the vectors

  // A valid static x86-64 executable: R headers page, RX text, RW data+bss.
  static ElfImage static_executable() {
    ElfImage image;
    Elf64_Ehdr& h = image.header;
    std::memcpy(h.e_ident, ELFMAG, SELFMAG);
    h.e_ident[EI_CLASS] = ELFCLASS64;
    h.e_ident[EI_DATA] = ELFDATA2LSB;
    h.e_ident[EI_VERSION] = EV_CURRENT;
    h.e_ident[EI_OSABI] = ELFOSABI_SYSV;
    h.e_type = ET_EXEC;
    h.e_machine = EM_X86_64;
    h.e_version = EV_CURRENT;
    h.e_entry = 0x401010;
    h.e_phoff = sizeof(Elf64_Ehdr);
    h.e_shoff = 0;
    h.e_ehsize = sizeof(Elf64_Ehdr);
    h.e_phentsize = sizeof(Elf64_Phdr);
    h.e_shentsize = sizeof(Elf64_Shdr);
    image.program_headers = {
        program_header(PT_LOAD, PF_R, 0, 0x400000, 0x200, 0x200),
        program_header(PT_LOAD, PF_R | PF_X, 0x1000, 0x401000, 0x100, 0x100),
        program_header(PT_LOAD, PF_R | PF_W, 0x2000, 0x402000, 0x80, 0x1000),
    };
    return image;
  }

  void add_blob(std::uint64_t offset, std::vector<std::byte> bytes) {
    blobs.emplace_back(offset, std::move(bytes));
  }

  std::vector<std::byte> bytes() const {
    std::vector<std::byte> file(file_size);
    auto put = [&](std::uint64_t offset, const void* data, std::uint64_t size) {
      if (offset >= file.size()) return;
      const std::uint64_t n = std::min<std::uint64_t>(size, file.size() - offset);
      std::memcpy(file.data() + offset, data, n);
    };
    Elf64_Ehdr h = header;
    if (set_counts) {
      h.e_phnum = static_cast<Elf64_Half>(program_headers.size());
      h.e_shnum = static_cast<Elf64_Half>(section_headers.size());
    }
    for (const auto& [offset, blob] : blobs) put(offset, blob.data(), blob.size());
    put(0, &h, sizeof(h));
    // Table entries whose offset wraps past 2^64 are dropped, not written at the start.
    auto put_entry = [&](std::uint64_t base, std::size_t index, const void* data, std::uint64_t size) {
      const std::uint64_t delta = index * size;
      if (base > ~std::uint64_t{0} - delta) return;
      put(base + delta, data, size);
    };
    for (std::size_t i = 0; i < program_headers.size(); ++i) {
      put_entry(h.e_phoff, i, &program_headers[i], sizeof(Elf64_Phdr));
    }
    for (std::size_t i = 0; i < section_headers.size(); ++i) {
      put_entry(h.e_shoff, i, &section_headers[i], sizeof(Elf64_Shdr));
    }
    return file;
  }
};

inline std::vector<std::byte> to_bytes(std::string_view text) {
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

template <typename T>
std::vector<std::byte> to_bytes(const std::vector<T>& items) {
  std::vector<std::byte> out(items.size() * sizeof(T));
  std::memcpy(out.data(), items.data(), out.size());
  return out;
}

}  // namespace hyperlet::testing
