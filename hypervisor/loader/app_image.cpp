#include "loader/app_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <hyperlet/abi.h>

#include "core/unique_fd.h"
#include "loader/syscall_sites.h"

namespace hyperlet {

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
  auto elf = parse_elf(image.bytes(), path);
  if (!elf) return std::unexpected(elf.error());
  image.elf_ = std::move(*elf);
  image.load_bias_ = image.elf_.position_independent ? abi::kPieLoadBase - image.elf_.lowest_address : 0;
  return image;
}

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
    std::memcpy(target->data(), image.bytes().data() + segment.file_offset, segment.file_size);
    if (segment.executable) code.push_back(CodeRange{segment.file_offset, segment.file_size});
  }
  if (rewrite_syscalls == nullptr) return report;
  const SiteTable table = rewrite_syscalls->sites(image.identity(), image.bytes(), code, report.sites_scanned);
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
