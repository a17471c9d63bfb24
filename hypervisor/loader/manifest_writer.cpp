#include "loader/manifest_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <hyperlet/manifest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "loader/app_image.h"
#include "loader/code_map.h"
#include "loader/instruction_decoder.h"
#include "loader/syscall_sites.h"

extern char** environ;

namespace hyperlet {
namespace {

class TemporaryFile {
 public:
  explicit TemporaryFile(std::string path) : path_(std::move(path)) {}
  ~TemporaryFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool write_file(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

Result<void> run_objcopy(const std::vector<std::string>& arguments) {
  std::vector<char*> argv;
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  pid_t child = 0;
  const int spawned = posix_spawnp(&child, "objcopy", nullptr, nullptr, argv.data(), environ);
  if (spawned != 0) {
    return fail(ExitStatus::kUsage, "cannot run objcopy: {} (install binutils)", std::strerror(spawned));
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return fail(ExitStatus::kUsage, "objcopy failed while writing the manifest (see its message above)");
  }
  return {};
}

}  // namespace

Result<ManifestReport> write_manifest(const std::string& path, Manifest manifest) {
  auto image = AppImage::open(path);
  if (!image) return std::unexpected(image.error());
  manifest.abi = abi::kAbiVersion;
  if (auto ok = image->read_code(); !ok) return std::unexpected(ok.error());
  if (auto ok = image->read_data(); !ok) return std::unexpected(ok.error());
  if (auto ok = image->read_code_map_tables(); !ok) return std::unexpected(ok.error());
  // The same analysis `run` does without a manifest: only provable code.
  const std::vector<CodeSegment> code = image->code_segments();
  if (auto decoder = instruction_decoder(); !decoder) return std::unexpected(decoder.error());
  const SiteTable table = find_syscall_sites(code, code_map_from_elf(image->bytes()), image->data_segments());
  std::vector<std::uint64_t> sites;
  for (std::size_t segment = 0; segment < code.size(); ++segment) {
    for (std::uint64_t offset : table[segment]) sites.push_back(code[segment].address + offset);
  }
  std::sort(sites.begin(), sites.end());
  const std::string base = path + fmt::format(".hyperlet-{}", ::getpid());
  TemporaryFile manifest_file(base + ".manifest"), sites_file(base + ".sites"), output(base + ".out");
  if (!write_file(manifest_file.path(), manifest_note(manifest)) ||
      !write_file(sites_file.path(), syscall_sites_note(sites))) {
    return fail(ExitStatus::kUsage, "cannot write temporary files next to {}: {}", path, std::strerror(errno));
  }
  const std::string manifest_section = manifest::kManifestSection;
  const std::string sites_section = manifest::kSitesSection;
  if (auto ok = run_objcopy({"objcopy", "--remove-section=" + manifest_section, "--remove-section=" + sites_section,
                             "--add-section", manifest_section + "=" + manifest_file.path(), "--add-section",
                             sites_section + "=" + sites_file.path(), path, output.path()});
      !ok) {
    return std::unexpected(ok.error());
  }
  ::chmod(output.path().c_str(), image->identity().st_mode & 07777);
  if (std::rename(output.path().c_str(), path.c_str()) != 0) {
    return fail(ExitStatus::kUsage, "cannot replace {}: {}", path, std::strerror(errno));
  }
  return ManifestReport{sites.size()};
}

}  // namespace hyperlet
