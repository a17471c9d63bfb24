// An app file opened for running: the parts hyperlet needs read into its own
// memory and parsed. The file is never mapped, so truncating or replacing it
// while the app runs cannot take pages from under hyperlet or the guest; after
// loading, only the crash report's symbol names are read from it, and only
// while the file is still the one that was opened.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <span>
#include <string>

#include "core/error.h"
#include "core/mapping.h"
#include "core/unique_fd.h"
#include "loader/elf_file.h"
#include "loader/manifest.h"
#include "loader/symbols.h"
#include "loader/syscall_site_cache.h"
#include "memory/guest_memory.h"

namespace hyperlet {

class AppImage {
 public:
  static Result<AppImage> open(const std::string& path);

  const ElfFile& elf() const { return elf_; }
  // The manifest and syscall-site notes the toolchain wrote, if any.
  const ImageNotes& notes() const { return notes_; }
  // The recorded syscall sites as offsets per executable segment, checked to lie
  // inside the code; load_app checks that each is a `syscall`.
  const std::optional<SiteTable>& manifest_sites() const { return manifest_sites_; }
  // The file's bytes as far as they have been read: the ELF and program headers,
  // the section headers and the notes always; the code after read_code(); the
  // symbol tables after read_symbols(). Everything else reads as zero.
  std::span<const std::byte> bytes() const { return {contents_.data(), contents_.size()}; }
  // Reads the executable segments' bytes (for scanning the code outside a run).
  Result<void> read_code() const;
  // Reads what the syscall-site analysis needs besides the code (code_map.h):
  // the section names, .eh_frame, and the symbol tables with their strings.
  Result<void> read_code_map_tables() const;
  // Reads the other loaded segments' bytes (jump tables, for the analysis).
  Result<void> read_data() const;
  // The executable segments as read into bytes() (after read_code()).
  std::vector<CodeSegment> code_segments() const { return segments(true); }
  // The other loaded segments as read into bytes() (after read_data()).
  std::vector<CodeSegment> data_segments() const { return segments(false); }
  // Reads the symbol and string tables, if the file is still the one opened
  // (same inode, size and times); false when it is not or they cannot be read.
  bool read_symbols() const;
  // Reads file bytes [offset, offset + target.size()) into target.
  Result<void> read_into(std::span<std::byte> target, std::uint64_t offset) const;
  const std::string& path() const { return path_; }
  // Added to every address in the file (non-zero for static-pie).
  std::uint64_t load_bias() const { return load_bias_; }
  std::uint64_t start() const { return elf_.lowest_address + load_bias_; }
  std::uint64_t end() const { return elf_.highest_address + load_bias_; }
  std::uint64_t entry() const { return elf_.entry + load_bias_; }
  std::uint64_t program_headers() const { return elf_.program_headers_address + load_bias_; }
  // Who the file is (device, inode, size, times): the syscall-site cache's key.
  const struct stat& identity() const { return identity_; }

 private:
  AppImage() = default;
  std::vector<CodeSegment> segments(bool executable) const;
  // Reads [offset, offset + length) of the file into contents_ (clamped to the file).
  Result<void> read_range(std::uint64_t offset, std::uint64_t length) const;
  std::string path_;
  UniqueFd fd_;
  // As large as the file and reserved, not backed: only what is read costs memory.
  Mapping contents_;
  ElfFile elf_{};
  ImageNotes notes_;
  std::optional<SiteTable> manifest_sites_;
  std::uint64_t load_bias_ = 0;
  struct stat identity_ {};
};

enum class SiteSource { kNone, kManifest, kCache, kScan };

struct LoadReport {
  std::uint64_t syscall_sites = 0;
  SiteSource sites_from = SiteSource::kNone;
};

// Reads the segments from the file straight into guest memory; with a site
// cache, also turns every `syscall` of the executable segments into the trap
// (abi.h).
Result<LoadReport> load_app(GuestMemory& memory, const AppImage& image, const SyscallSiteCache* rewrite_syscalls);

// "cannot run IMAGE: its manifest lists a syscall at SITE that is not one in the code ..."
std::string not_a_syscall_message(const AppImage& image, std::uint64_t site);

// The sites of a manifest table that are not `syscall` instructions in `code`
// (one span per executable segment): the first such address, if any.
std::optional<std::uint64_t> first_site_not_a_syscall(const AppImage& image, const SiteTable& table,
                                                      const std::vector<std::span<const std::byte>>& code);

}  // namespace hyperlet
