// An app file opened for running: copied into hyperlet's memory and parsed.
// Nothing depends on the file afterwards, so truncating or replacing it while
// the app runs changes nothing for the run.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/error.h"
#include "core/mapping.h"
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
  // The recorded syscall sites as offsets per executable segment, checked
  // against the code when the image was opened.
  const std::optional<SiteTable>& manifest_sites() const { return manifest_sites_; }
  std::span<const std::byte> bytes() const { return {contents_.data(), contents_.size()}; }
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
  std::string path_;
  Mapping contents_;  // the file's bytes as they were when it was opened
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

// Copies the segments into guest memory; with a site cache, also turns every
// `syscall` of the executable segments into the trap (abi.h).
Result<LoadReport> load_app(GuestMemory& memory, const AppImage& image, const SyscallSiteCache* rewrite_syscalls);

}  // namespace hyperlet
