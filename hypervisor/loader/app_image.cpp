#include "loader/app_image.h"

#include <elf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/checked_range.h"
#include "core/unique_fd.h"
#include "loader/file_bytes.h"
#include "loader/instruction_decoder.h"
#include "loader/syscall_sites.h"

namespace hyperlet {

namespace {

// The manifest's sites as offsets into each code range, each one checked to lie
// inside an executable segment's bytes; load_app (and inspect) check that each
// is a `syscall`, so a table that does not match the code is refused rather than
// trusted to rewrite bytes.
Result<SiteTable> sites_from_manifest(const AppImage& image, const std::vector<std::uint64_t>& sites) {
  SiteTable table;
  std::vector<const LoadSegment*> code;
  for (const LoadSegment& segment : image.elf().segments) {
    if (segment.executable) code.push_back(&segment);
  }
  table.resize(code.size());
  for (std::uint64_t site : sites) {
    bool placed = false;
    for (std::size_t i = 0; i < code.size() && !placed; ++i) {
      const LoadSegment& segment = *code[i];
      if (!range_within(site, 2, segment.virtual_address, segment.file_size)) continue;
      table[i].push_back(site - segment.virtual_address);
      placed = true;
    }
    if (!placed) return fail(ExitStatus::kBadImage, "{}", not_a_syscall_message(image, site));
  }
  return table;
}

Result<void> read_exactly(int fd, std::byte* target, std::uint64_t length, std::uint64_t offset,
                          const std::string& path) {
  std::uint64_t done = 0;
  while (done < length) {
    const ssize_t got = ::pread(fd, target + done, length - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(ExitStatus::kBadImage, "cannot read {}: {}", path, std::strerror(errno));
    if (got == 0) {
      return fail(ExitStatus::kBadImage, "cannot run {}: the file shrank while it was being read", path);
    }
    done += static_cast<std::uint64_t>(got);
  }
  return {};
}

}  // namespace

std::string not_a_syscall_message(const AppImage& image, std::uint64_t site) {
  return fmt::format(
      "cannot run {}: its manifest lists a syscall at {:#x} that is not one in the code (was the image changed "
      "after `hyperlet manifest`? run it again)",
      image.path(), site);
}

Result<void> AppImage::read_range(std::uint64_t offset, std::uint64_t length) const {
  if (offset >= contents_.size()) return {};
  length = std::min(length, contents_.size() - offset);
  return read_exactly(fd_.get(), contents_.data() + offset, length, offset, path_);
}

Result<void> AppImage::read_into(std::span<std::byte> target, std::uint64_t offset) const {
  if (!range_fits(offset, target.size(), contents_.size())) {
    return fail(ExitStatus::kBadImage, "cannot run {}: a segment lies outside the file", path_);
  }
  return read_exactly(fd_.get(), target.data(), target.size(), offset, path_);
}

Result<void> AppImage::read_code() const {
  for (const LoadSegment& segment : elf_.segments) {
    if (!segment.executable) continue;
    if (auto ok = read_range(segment.file_offset, segment.file_size); !ok) return ok;
  }
  return {};
}

Result<void> AppImage::read_data() const {
  for (const LoadSegment& segment : elf_.segments) {
    if (segment.executable) continue;
    if (auto ok = read_range(segment.file_offset, segment.file_size); !ok) return ok;
  }
  return {};
}

Result<void> AppImage::read_code_map_tables() const {
  Elf64_Ehdr header;
  if (!read_at(bytes(), 0, header) || header.e_shentsize != sizeof(Elf64_Shdr)) return {};
  auto section_at = [&](std::uint64_t index, Elf64_Shdr& section) {
    return index < header.e_shnum && read_at(bytes(), header.e_shoff + index * sizeof(Elf64_Shdr), section);
  };
  Elf64_Shdr names;
  if (section_at(header.e_shstrndx, names) && names.sh_type == SHT_STRTAB) {
    if (auto ok = read_range(names.sh_offset, names.sh_size); !ok) return ok;
  }
  // Which section is .eh_frame (or .gopclntab) is known only by name; reading every
  // section that could be it (allocated, not code, not empty) and the symbol tables
  // costs less than a second pass.
  for (std::uint16_t i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section;
    if (!section_at(i, section) || section.sh_type == SHT_NOBITS) continue;
    const bool symbols = section.sh_type == SHT_SYMTAB;
    const bool maybe_eh_frame = section.sh_type == SHT_PROGBITS && (section.sh_flags & SHF_ALLOC) != 0 &&
                                (section.sh_flags & (SHF_EXECINSTR | SHF_WRITE)) == 0;
    if (!symbols && !maybe_eh_frame) continue;
    if (auto ok = read_range(section.sh_offset, section.sh_size); !ok) return ok;
    Elf64_Shdr strings;
    if (symbols && section_at(section.sh_link, strings)) {
      if (auto ok = read_range(strings.sh_offset, strings.sh_size); !ok) return ok;
    }
  }
  return {};
}

std::vector<CodeSegment> AppImage::segments(bool executable) const {
  std::vector<CodeSegment> code;
  for (const LoadSegment& segment : elf_.segments) {
    if (segment.executable != executable) continue;
    if (!range_fits(segment.file_offset, segment.file_size, contents_.size())) continue;
    code.push_back({segment.virtual_address, bytes().subspan(segment.file_offset, segment.file_size)});
  }
  return code;
}

bool AppImage::read_symbols() const {
  // Only from the file that was opened: a replaced or rewritten file would name
  // the wrong functions, and a shrunk one is read short (an error, never a SIGBUS).
  struct stat now {};
  if (::fstat(fd_.get(), &now) != 0 || now.st_ino != identity_.st_ino || now.st_dev != identity_.st_dev ||
      now.st_size != identity_.st_size || now.st_mtim.tv_sec != identity_.st_mtim.tv_sec ||
      now.st_mtim.tv_nsec != identity_.st_mtim.tv_nsec || now.st_ctim.tv_sec != identity_.st_ctim.tv_sec ||
      now.st_ctim.tv_nsec != identity_.st_ctim.tv_nsec) {
    return false;
  }
  Elf64_Ehdr header;
  if (!read_at(bytes(), 0, header) || header.e_shentsize != sizeof(Elf64_Shdr)) return false;
  auto section_at = [&](std::uint64_t index, Elf64_Shdr& section) {
    return index < header.e_shnum && read_at(bytes(), header.e_shoff + index * sizeof(Elf64_Shdr), section);
  };
  for (std::uint16_t i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section, strings;
    if (!section_at(i, section) || section.sh_type != SHT_SYMTAB) continue;
    if (!read_range(section.sh_offset, section.sh_size)) return false;
    if (section_at(section.sh_link, strings) && !read_range(strings.sh_offset, strings.sh_size)) return false;
  }
  return true;
}

Result<AppImage> AppImage::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int saved = errno;
    // ENOTDIR: a path through a non-directory names no file, as ENOENT does.
    return fail(saved == ENOENT || saved == ENOTDIR ? ExitStatus::kImageNotFound : ExitStatus::kBadImage,
                "cannot open {}: {}", path, std::strerror(saved));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return fail(ExitStatus::kBadImage, "cannot run {}: not a regular file", path);
  }
  AppImage image;
  image.path_ = path;
  image.identity_ = info;
  image.fd_ = std::move(fd);
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > 0) {
    // Reserved, not backed: debug sections and the rest are never read.
    void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (address == MAP_FAILED) {
      return fail(ExitStatus::kBadImage, "cannot read {}: {}", path, std::strerror(errno));
    }
    image.contents_ = Mapping(address, size);
  }
  // The ELF header, then the tables it points to, then the notes.
  if (auto ok = image.read_range(0, 4096); !ok) return std::unexpected(ok.error());
  Elf64_Ehdr header;
  if (read_at(image.bytes(), 0, header)) {
    const std::uint64_t program_headers = std::uint64_t{header.e_phnum} * sizeof(Elf64_Phdr);
    if (auto ok = image.read_range(header.e_phoff, program_headers); !ok) return std::unexpected(ok.error());
    if (header.e_shentsize == sizeof(Elf64_Shdr)) {
      const std::uint64_t section_headers = std::uint64_t{header.e_shnum} * sizeof(Elf64_Shdr);
      if (auto ok = image.read_range(header.e_shoff, section_headers); !ok) return std::unexpected(ok.error());
      for (std::uint16_t i = 0; i < header.e_shnum; ++i) {
        Elf64_Shdr section;
        if (!read_at(image.bytes(), header.e_shoff + std::uint64_t{i} * sizeof(Elf64_Shdr), section)) break;
        if (section.sh_type != SHT_NOTE) continue;
        if (auto ok = image.read_range(section.sh_offset, section.sh_size); !ok) return std::unexpected(ok.error());
      }
    }
  }
  auto elf = parse_elf(image.bytes(), path);
  if (!elf) return std::unexpected(elf.error());
  image.elf_ = std::move(*elf);
  auto notes = read_image_notes(image.bytes(), path);
  if (!notes) return std::unexpected(notes.error());
  image.notes_ = std::move(*notes);
  if (image.notes_.syscall_sites) {
    auto table = sites_from_manifest(image, *image.notes_.syscall_sites);
    if (!table) return std::unexpected(table.error());
    image.manifest_sites_ = std::move(*table);
  }
  image.load_bias_ = image.elf_.position_independent ? abi::kPieLoadBase - image.elf_.lowest_address : 0;
  return image;
}

std::optional<std::uint64_t> first_site_not_a_syscall(const AppImage& image, const SiteTable& table,
                                                      const std::vector<std::span<const std::byte>>& code) {
  std::size_t range = 0;
  for (const LoadSegment& segment : image.elf().segments) {
    if (!segment.executable) continue;
    if (range >= table.size() || range >= code.size()) break;
    for (std::uint64_t offset : table[range]) {
      const bool fits = range_fits(offset, 2, code[range].size());
      if (!fits || code[range][offset] != std::byte{0x0f} || code[range][offset + 1] != std::byte{0x05}) {
        return segment.virtual_address + offset;
      }
    }
    ++range;
  }
  return std::nullopt;
}

Result<LoadReport> load_app(GuestMemory& memory, const AppImage& image, const SyscallSiteCache* rewrite_syscalls) {
  LoadReport report;
  std::vector<CodeSegment> code, data;
  std::vector<std::span<const std::byte>> code_bytes;
  std::vector<std::span<std::byte>> writable_code;
  for (const LoadSegment& segment : image.elf().segments) {
    const std::uint64_t address = segment.virtual_address + image.load_bias();
    auto target = memory.span(address, segment.memory_size);
    if (!target) {
      return fail(ExitStatus::kGuestMemoryTooSmall, "{}: segment at {:#x} does not fit in guest memory", image.path(),
                  address);
    }
    // Backed in one pass first: faulting page by page inside the read cost ~1 ms
    // of host page faults for a 1.3 MB C++ hello here. Populated pages also let
    // KVM's shadow MMU prefetch neighbours (it maps only host-writable pages).
    memory.populate(address, segment.memory_size);
    // Straight from the file into guest memory: one copy, and the file is not
    // needed afterwards. The rest of the segment (.bss) is fresh memory: zero.
    const auto file_bytes = target->first(segment.file_size);
    if (auto ok = image.read_into(file_bytes, segment.file_offset); !ok) return std::unexpected(ok.error());
    if (!segment.executable) data.push_back({segment.virtual_address, file_bytes});
    if (segment.executable) {
      code.push_back({segment.virtual_address, file_bytes});
      code_bytes.push_back(file_bytes);
      writable_code.push_back(file_bytes);
    }
  }
  // The manifest's sites are checked whatever the syscall entry: an image that
  // lies about its code is refused on every KVM, as `inspect` says it will be.
  if (image.manifest_sites()) {
    if (auto site = first_site_not_a_syscall(image, *image.manifest_sites(), code_bytes)) {
      return fail(ExitStatus::kBadImage, "{}", not_a_syscall_message(image, *site));
    }
  }
  if (rewrite_syscalls == nullptr) return report;
  SiteTable table;
  if (image.manifest_sites()) {
    table = *image.manifest_sites();
    report.sites_from = SiteSource::kManifest;
  } else {
    bool scanned = false;
    auto analysed = rewrite_syscalls->sites(
        image.identity(), code,
        [&]() -> Result<SiteTable> {
          if (auto ok = image.read_code_map_tables(); !ok) return std::unexpected(ok.error());
          if (auto decoder = instruction_decoder(); !decoder) return std::unexpected(decoder.error());
          return find_syscall_sites(code, code_map_from_elf(image.bytes()), data);
        },
        scanned);
    if (!analysed) return std::unexpected(analysed.error());
    table = std::move(*analysed);
    report.sites_from = scanned ? SiteSource::kScan : SiteSource::kCache;
  }
  for (std::size_t range = 0; range < writable_code.size() && range < table.size(); ++range) {
    rewrite_syscall_sites(writable_code[range], table[range]);
    report.syscall_sites += table[range].size();
  }
  return report;
}

}  // namespace hyperlet
