#include "loader/app_image.h"

#include <fcntl.h>
#include <hyperlet/abi.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/checked_range.h"
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
      if (!range_within(site, 2, segment.virtual_address, segment.file_size)) continue;
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

namespace {

// The whole file copied into private anonymous memory. Mapping the file instead
// would tie the run to it: when anyone truncates the file (the app itself,
// through a writable volume, or a copy over the image on the host), the kernel
// takes the pages away from every mapping of it, even private copies made by
// writing, and the next access is a SIGBUS in hyperlet or an EFAULT from
// KVM_RUN. A copy costs one read of the file into pre-faulted pages.
Result<Mapping> read_whole_file(int fd, std::uint64_t size, const std::string& path) {
  if (size == 0) return Mapping();
  void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (address == MAP_FAILED) {
    return fail(ExitStatus::kBadImage, "cannot read {}: {}", path, std::strerror(errno));
  }
  Mapping copy(address, size);
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, copy.data() + done, size - done, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(ExitStatus::kBadImage, "cannot read {}: {}", path, std::strerror(errno));
    if (got == 0) {
      return fail(ExitStatus::kBadImage, "cannot run {}: the file shrank while it was being read ({} of {} bytes)",
                  path, done, size);
    }
    done += static_cast<std::uint64_t>(got);
  }
  ::mprotect(copy.data(), size, PROT_READ);  // the loader only reads it
  return copy;
}

}  // namespace

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
  auto copy = read_whole_file(fd.get(), static_cast<std::uint64_t>(info.st_size), path);
  if (!copy) return std::unexpected(copy.error());
  image.contents_ = std::move(*copy);
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

Result<LoadReport> load_app(GuestMemory& memory, const AppImage& image, const SyscallSiteCache* rewrite_syscalls) {
  LoadReport report;
  std::vector<CodeRange> code;
  for (const LoadSegment& segment : image.elf().segments) {
    const std::uint64_t address = segment.virtual_address + image.load_bias();
    auto target = memory.span(address, segment.memory_size);
    if (!target) {
      return fail(ExitStatus::kGuestMemoryTooSmall, "{}: segment at {:#x} does not fit in guest memory", image.path(),
                  address);
    }
    // Backed in one pass first: faulting page by page inside the copy cost ~1 ms
    // of host page faults for a 1.3 MB C++ hello here. Populated pages also let
    // KVM's shadow MMU prefetch neighbours (it maps only host-writable pages).
    memory.populate(address, segment.memory_size);
    std::memcpy(target->data(), image.bytes().data() + segment.file_offset, segment.file_size);
    if (segment.executable) code.push_back(CodeRange{segment.file_offset, segment.file_size});
  }
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
