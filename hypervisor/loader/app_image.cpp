#include "loader/app_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <hyperlet/abi.h>

#include "core/unique_fd.h"
#include "loader/syscall_sites.h"

namespace hyperlet {

namespace {

// The manifest's sites as offsets into each code range, each one checked to be
// a `syscall` in the file: a table that does not match the code is refused
// rather than trusted to rewrite bytes.
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
      if (site < segment.virtual_address || site + 2 > segment.virtual_address + segment.file_size) continue;
      const std::uint64_t offset = site - segment.virtual_address;
      const auto* bytes = reinterpret_cast<const unsigned char*>(image.bytes().data() + segment.file_offset + offset);
      if (bytes[0] != 0x0f || bytes[1] != 0x05) break;
      table[i].push_back(offset);
      placed = true;
    }
    if (!placed) {
      return fail(ExitStatus::kBadImage,
                  "cannot run {}: its manifest lists a syscall at {:#x} that is not one in the code (was "
                  "the image changed after `hyperlet manifest`? run it again)",
                  image.path(), site);
    }
  }
  return table;
}

}  // namespace

Result<AppImage> AppImage::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int saved = errno;
    return fail(saved == ENOENT ? ExitStatus::kImageNotFound : ExitStatus::kBadImage,
                "cannot open {}: {}", path, std::strerror(saved));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return fail(ExitStatus::kBadImage, "cannot run {}: not a regular file", path);
  }
  AppImage image;
  image.path_ = path;
  image.identity_ = info;
  if (info.st_size > 0) {
    void* address = ::mmap(nullptr, static_cast<std::size_t>(info.st_size), PROT_READ, MAP_PRIVATE,
                           fd.get(), 0);
    if (address == MAP_FAILED) {
      return fail(ExitStatus::kBadImage, "cannot read {}: {}", path, std::strerror(errno));
    }
    image.mapping_ = Mapping(address, static_cast<std::size_t>(info.st_size));
  }
  image.fd_ = std::move(fd);
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

namespace {

constexpr std::uint64_t kPage = abi::kPageSize;
constexpr std::uint64_t page_down(std::uint64_t value) { return value & ~(kPage - 1); }
constexpr std::uint64_t page_up(std::uint64_t value) { return (value + kPage - 1) & ~(kPage - 1); }

// Whole pages of the segment's file bytes, mapped from the file; false when the
// segment's address and offset disagree modulo the page size.
bool map_segment(GuestMemory& memory, const AppImage& image, const LoadSegment& segment) {
  const std::uint64_t address = segment.virtual_address + image.load_bias();
  if (segment.file_size == 0) return true;
  if ((address - segment.file_offset) % kPage != 0) return false;
  const std::uint64_t start = page_down(address);
  const std::uint64_t end = page_up(address + segment.file_size);
  return memory.map_file(start, end - start, image.fd(), segment.file_offset - (address - start));
}

// The segment's exact bytes in its first and last mapped page: those pages may
// hold bytes of a neighbouring segment or of the file beyond this segment
// (where .bss must read as zero).
void fix_segment_edges(GuestMemory& memory, const AppImage& image, const LoadSegment& segment) {
  const std::uint64_t address = segment.virtual_address + image.load_bias();
  const std::uint64_t file_end = address + segment.file_size;
  const std::uint64_t mapped_end = page_up(file_end);
  auto copy = [&](std::uint64_t from, std::uint64_t to) {
    if (to > from) {
      memory.write_bytes(from, image.bytes().subspan(segment.file_offset + (from - address), to - from));
    }
  };
  copy(address, std::min(file_end, page_up(address + 1)));
  copy(std::max(address, page_down(file_end == address ? address : file_end - 1)), file_end);
  const std::uint64_t zero_end = std::min(address + segment.memory_size, mapped_end);
  if (zero_end > file_end) {
    auto tail = memory.span(file_end, zero_end - file_end);
    std::memset(tail->data(), 0, tail->size());
  }
}

}  // namespace

Result<LoadReport> load_app(GuestMemory& memory, const AppImage& image,
                            const SyscallSiteCache* rewrite_syscalls) {
  LoadReport report;
  std::vector<CodeRange> code;
  for (const LoadSegment& segment : image.elf().segments) {
    const std::uint64_t address = segment.virtual_address + image.load_bias();
    auto target = memory.span(address, segment.memory_size);
    if (!target) {
      return fail(ExitStatus::kGuestMemoryTooSmall, "{}: segment at {:#x} does not fit in guest memory",
                  image.path(), address);
    }
    if (!map_segment(memory, image, segment)) {
      std::memcpy(target->data(), image.bytes().data() + segment.file_offset, segment.file_size);
    }
    if (segment.executable) code.push_back(CodeRange{segment.file_offset, segment.file_size});
  }
  // After every mapping, so that no later mapping overwrites an edge.
  for (const LoadSegment& segment : image.elf().segments) fix_segment_edges(memory, image, segment);
  if (rewrite_syscalls == nullptr) return report;
  SiteTable table;
  if (image.manifest_sites()) {
    table = *image.manifest_sites();
    report.sites_from = SiteSource::kManifest;
  } else {
    bool scanned = false;
    table = rewrite_syscalls->sites(image.identity(), image.bytes(), code, scanned);
    report.sites_from = scanned ? SiteSource::kScan : SiteSource::kCache;
  }
  std::size_t range = 0;
  for (const LoadSegment& segment : image.elf().segments) {
    if (!segment.executable) continue;
    auto target = memory.span(segment.virtual_address + image.load_bias(), segment.file_size);
    rewrite_syscall_sites(*target, table[range]);
    report.syscall_sites += table[range].size();
    ++range;
  }
  return report;
}

}  // namespace hyperlet
