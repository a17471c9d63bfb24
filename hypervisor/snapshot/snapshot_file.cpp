#include "snapshot/snapshot_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "core/checked_range.h"
#include "memory/guest_memory.h"

namespace hyperlet::snapshot {
namespace {

static_assert(sizeof(FileHeader) <= kPage);

std::uint64_t checksum(std::span<const std::byte> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::uint64_t header_checksum(const FileHeader& header) {
  return XXH3_64bits(&header, offsetof(FileHeader, header_checksum));
}

constexpr std::uint64_t page_up(std::uint64_t value) { return (value + kPage - 1) & ~(kPage - 1); }

Result<void> write_all(int fd, const void* data, std::uint64_t size, std::uint64_t offset, const std::string& path) {
  const auto* bytes = static_cast<const std::byte*>(data);
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t wrote = ::pwrite(fd, bytes + done, size - done, static_cast<off_t>(offset + done));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return fail(ExitStatus::kUsage, "cannot write the snapshot {}: {}", path, std::strerror(errno));
    done += static_cast<std::uint64_t>(wrote);
  }
  return {};
}

Result<void> read_all(int fd, void* data, std::uint64_t size, std::uint64_t offset, const std::string& path) {
  auto* bytes = static_cast<std::byte*>(data);
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, bytes + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(ExitStatus::kBadImage, "cannot read the snapshot {}: {}", path, std::strerror(errno));
    if (got == 0) return fail(ExitStatus::kBadImage, "cannot restore {}: the snapshot is truncated", path);
    done += static_cast<std::uint64_t>(got);
  }
  return {};
}

}  // namespace

std::vector<PageRun> resident_runs(const GuestMemory& memory) {
  const std::uint64_t pages = memory.size() / kPage;
  std::vector<unsigned char> residency(pages);
  std::vector<PageRun> runs;
  if (::mincore(memory.host_base(), memory.size(), residency.data()) != 0) return runs;
  for (std::uint64_t page = 0; page < pages; ++page) {
    if ((residency[page] & 1) == 0) continue;
    if (!runs.empty() && runs.back().first_page + runs.back().page_count == page) {
      ++runs.back().page_count;
    } else {
      runs.push_back(PageRun{page, 1});
    }
  }
  return runs;
}

Result<void> write(const std::string& path, const Contents& contents, const GuestMemory& memory) {
  const std::string host_text = contents.host.dump();
  FileHeader header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  header.format_version = kFormatVersion;
  header.abi_version = abi::kAbiVersion;
  header.memory_size = contents.memory_size;
  std::snprintf(header.machine, sizeof header.machine, "%s", contents.machine.c_str());
  header.vcpu = Section{kPage, sizeof(VcpuState), checksum(std::as_bytes(std::span(&contents.vcpu, 1)))};
  header.host = Section{header.vcpu.offset + header.vcpu.size, host_text.size(),
                        checksum(std::as_bytes(std::span(host_text.data(), host_text.size())))};
  header.runs = Section{header.host.offset + header.host.size, contents.runs.size() * sizeof(PageRun),
                        checksum(std::as_bytes(std::span(contents.runs)))};
  std::uint64_t page_count = 0;
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const PageRun& run : contents.runs) {
    auto bytes = memory.span(run.first_page * kPage, run.page_count * kPage);
    if (!bytes) {
      XXH3_freeState(state);
      return fail(ExitStatus::kUsage, "cannot write the snapshot {}: a page run lies outside guest memory", path);
    }
    XXH3_64bits_update(state, bytes->data(), bytes->size());
    page_count += run.page_count;
  }
  header.pages = Section{page_up(header.runs.offset + header.runs.size), page_count * kPage, XXH3_64bits_digest(state)};
  XXH3_freeState(state);
  header.header_checksum = header_checksum(header);

  const std::string temporary = fmt::format("{}.{}.tmp", path, ::getpid());
  UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return fail(ExitStatus::kUsage, "cannot write the snapshot {}: {}", path, std::strerror(errno));
  auto written = [&]() -> Result<void> {
    if (auto ok = write_all(fd.get(), &header, sizeof header, 0, path); !ok) return ok;
    if (auto ok = write_all(fd.get(), &contents.vcpu, sizeof contents.vcpu, header.vcpu.offset, path); !ok) return ok;
    if (auto ok = write_all(fd.get(), host_text.data(), host_text.size(), header.host.offset, path); !ok) return ok;
    if (auto ok = write_all(fd.get(), contents.runs.data(), header.runs.size, header.runs.offset, path); !ok) {
      return ok;
    }
    std::uint64_t at = header.pages.offset;
    for (const PageRun& run : contents.runs) {
      auto bytes = memory.span(run.first_page * kPage, run.page_count * kPage);
      if (auto ok = write_all(fd.get(), bytes->data(), bytes->size(), at, path); !ok) return ok;
      at += bytes->size();
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(at)) != 0 || ::fsync(fd.get()) != 0) {
      return fail(ExitStatus::kUsage, "cannot write the snapshot {}: {}", path, std::strerror(errno));
    }
    // renameat/unlinkat: the calls hyperlet's seccomp filter allows (glibc's rename is SYS_rename).
    if (::renameat(AT_FDCWD, temporary.c_str(), AT_FDCWD, path.c_str()) != 0) {
      return fail(ExitStatus::kUsage, "cannot write the snapshot {}: {}", path, std::strerror(errno));
    }
    return {};
  }();
  if (!written) ::unlinkat(AT_FDCWD, temporary.c_str(), 0);
  return written;
}

Result<File> File::open(const std::string& path, const std::string& machine, const CheckedSnapshots* checked) {
  auto refuse = [&](const std::string& why) -> Result<File> {
    return fail(ExitStatus::kBadImage, "cannot restore {}: {}", path, why);
  };
  File file;
  file.path_ = path;
  file.fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.fd_.valid()) {
    const int saved = errno;
    return fail(saved == ENOENT || saved == ENOTDIR ? ExitStatus::kImageNotFound : ExitStatus::kBadImage,
                "cannot open the snapshot {}: {}", path, std::strerror(saved));
  }
  struct stat info {};
  if (::fstat(file.fd_.get(), &info) != 0 || !S_ISREG(info.st_mode)) return refuse("not a regular file");
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  FileHeader header{};
  if (file_size < sizeof header) return refuse("not a hyperlet snapshot (too short)");
  if (auto ok = read_all(file.fd_.get(), &header, sizeof header, 0, path); !ok) return std::unexpected(ok.error());
  if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0) return refuse("not a hyperlet snapshot");
  if (header.format_version != kFormatVersion) {
    return refuse(fmt::format("snapshot format {}, and this hyperlet reads format {} (take it again)",
                              header.format_version, kFormatVersion));
  }
  if (header.header_checksum != header_checksum(header)) return refuse("its header is corrupt (checksum mismatch)");
  if (header.abi_version != abi::kAbiVersion) {
    return refuse(fmt::format("taken with guest ABI {}, and this hyperlet has ABI {} (take it again)",
                              header.abi_version, abi::kAbiVersion));
  }
  if (std::memchr(header.machine, '\0', sizeof header.machine) == nullptr) return refuse("its header is corrupt");
  if (!machine.empty() && machine != header.machine) {
    return refuse(
        fmt::format("taken on another machine or by another hyperlet build ({}, this is {}); "
                    "take it again here",
                    header.machine, machine));
  }
  // Each section inside the file, in order, and the page data page-aligned.
  const Section* sections[] = {&header.vcpu, &header.host, &header.runs, &header.pages};
  std::uint64_t previous_end = sizeof header;
  for (const Section* section : sections) {
    if (!range_fits(section->offset, section->size, file_size) || section->offset < previous_end) {
      return refuse(
          fmt::format("the snapshot is truncated or corrupt (a section at {} of {} bytes lies outside "
                      "its {} bytes)",
                      section->offset, section->size, file_size));
    }
    previous_end = section->offset + section->size;
  }
  if (header.vcpu.size != sizeof(VcpuState)) return refuse("its vCPU section has the wrong size");
  if (header.runs.size % sizeof(PageRun) != 0) return refuse("its page runs are corrupt");
  if (header.pages.offset % kPage != 0 || header.pages.size % kPage != 0) return refuse("its pages are misaligned");
  if (header.memory_size == 0 || header.memory_size % (2ull << 20) != 0 || header.memory_size > (16ull << 30)) {
    return refuse("its memory size is corrupt");
  }

  Contents& contents = file.contents_;
  contents.memory_size = header.memory_size;
  contents.machine = header.machine;
  auto read_section = [&](const Section& section, void* into, const char* name) -> Result<void> {
    if (auto ok = read_all(file.fd_.get(), into, section.size, section.offset, path); !ok) return ok;
    if (checksum(std::span(static_cast<const std::byte*>(into), section.size)) != section.checksum) {
      return fail(ExitStatus::kBadImage, "cannot restore {}: its {} section is corrupt (checksum mismatch)", path,
                  name);
    }
    return {};
  };
  if (auto ok = read_section(header.vcpu, &contents.vcpu, "vCPU"); !ok) return std::unexpected(ok.error());
  std::string host_text(header.host.size, '\0');
  if (auto ok = read_section(header.host, host_text.data(), "host state"); !ok) return std::unexpected(ok.error());
  contents.host = nlohmann::json::parse(host_text, nullptr, false);
  if (contents.host.is_discarded() || !contents.host.is_object()) return refuse("its host state is not valid JSON");
  contents.runs.resize(header.runs.size / sizeof(PageRun));
  if (auto ok = read_section(header.runs, contents.runs.data(), "page run"); !ok) return std::unexpected(ok.error());
  std::uint64_t pages = 0, next_free = 0;
  for (const PageRun& run : contents.runs) {
    if (run.page_count == 0 || run.first_page < next_free ||
        !range_fits(run.first_page, run.page_count, header.memory_size / kPage)) {
      return refuse("its page runs overlap or lie outside guest memory");
    }
    next_free = run.first_page + run.page_count;
    pages += run.page_count;
  }
  if (pages * kPage != header.pages.size) return refuse("its page runs and page data disagree");
  file.pages_offset_ = header.pages.offset;
  if (checked != nullptr && checked->contains(info, header.pages.checksum)) return file;
  // The page data's checksum, read in place through a read-only mapping of the
  // page cache: copying the pages into a buffer (and zeroing the buffer) cost
  // more than hashing them. The sizes were checked against the file's above; the
  // pages are then mapped copy-on-write, not copied.
  file.pages_hashed_ = true;
  std::uint64_t pages_checksum = XXH3_64bits(nullptr, 0);
  if (header.pages.size != 0) {
    void* mapped = ::mmap(nullptr, header.pages.size, PROT_READ, MAP_SHARED | MAP_POPULATE, file.fd_.get(),
                          static_cast<off_t>(header.pages.offset));
    if (mapped == MAP_FAILED) {
      return fail(ExitStatus::kBadImage, "cannot read the snapshot {}: {}", path, std::strerror(errno));
    }
    const Mapping page_data(mapped, header.pages.size);
    pages_checksum = checksum(std::span<const std::byte>(page_data.data(), header.pages.size));
  }
  if (pages_checksum != header.pages.checksum) return refuse("its guest pages are corrupt (checksum mismatch)");
  if (checked != nullptr) checked->add(info, header.pages.checksum);
  return file;
}

Result<void> File::map_pages(GuestMemory& memory) const {
  std::uint64_t at = pages_offset_;
  for (const PageRun& run : contents_.runs) {
    if (!memory.map_copy_on_write(run.first_page * kPage, run.page_count * kPage, fd_.get(), at)) {
      return fail(ExitStatus::kVmFailure, "cannot map the snapshot {}'s pages: {}", path_, std::strerror(errno));
    }
    at += run.page_count * kPage;
  }
  return {};
}

Result<void> File::prepare_reset() {
  if (ready_for_reset()) return {};
  std::uint64_t page_count = 0;
  for (const PageRun& run : contents_.runs) page_count += run.page_count;
  void* mapped =
      ::mmap(nullptr, page_count * kPage, PROT_READ, MAP_SHARED, fd_.get(), static_cast<off_t>(pages_offset_));
  if (mapped == MAP_FAILED) {
    return fail(ExitStatus::kVmFailure, "cannot map the snapshot {}'s pages: {}", path_, std::strerror(errno));
  }
  pristine_ = Mapping(mapped, page_count * kPage);
  page_slots_.assign(contents_.memory_size / kPage, kNoSlot);
  std::uint32_t slot = 0;
  for (const PageRun& run : contents_.runs) {
    for (std::uint64_t page = run.first_page; page < run.first_page + run.page_count; ++page)
      page_slots_[page] = slot++;
  }
  return {};
}

std::uint64_t File::reset_pages(GuestMemory& memory, std::span<const std::uint64_t> guest_written,
                                std::span<const std::uint64_t> host_touched) const {
  static const std::byte kZeroPage[kPage] = {};
  std::uint64_t written = 0;
  const std::size_t words = std::min<std::size_t>(std::max(guest_written.size(), host_touched.size()),
                                                  (contents_.memory_size / kPage + 63) / 64);
  for (std::size_t word = 0; word < words; ++word) {
    const std::uint64_t by_guest = word < guest_written.size() ? guest_written[word] : 0;
    const std::uint64_t by_host = word < host_touched.size() ? host_touched[word] : 0;
    for (std::uint64_t bits = by_guest | by_host; bits != 0; bits &= bits - 1) {
      const std::uint64_t page = word * 64 + static_cast<std::uint64_t>(std::countr_zero(bits));
      if (page >= contents_.memory_size / kPage) break;
      const std::uint32_t slot = page < page_slots_.size() ? page_slots_[page] : kNoSlot;
      const std::byte* original = slot == kNoSlot ? kZeroPage : pristine_.data() + std::uint64_t{slot} * kPage;
      auto target = memory.span(page * kPage, kPage);
      if (!target) continue;
      const bool guest_wrote = (by_guest >> (page % 64)) & 1;
      if (!guest_wrote && std::memcmp(target->data(), original, kPage) == 0) continue;
      std::memcpy(target->data(), original, kPage);
      ++written;
    }
  }
  return written;
}

}  // namespace hyperlet::snapshot
