#include "kvm/supported_cpuid_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>

#include <fmt/format.h>

namespace hyperlet {
namespace {

constexpr std::uint32_t kFormatVersion = 1;

std::optional<std::string> first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

}  // namespace

std::optional<std::string> supported_cpuid_key() {
  auto boot_id = first_line("/proc/sys/kernel/random/boot_id");
  if (!boot_id) return std::nullopt;
  std::string key = fmt::format("v{} boot {}", kFormatVersion, *boot_id);
  bool any_module = false;
  // A module's /sys directory is made anew when it is loaded.
  for (const char* module : {"/sys/module/kvm", "/sys/module/kvm_intel", "/sys/module/kvm_amd",
                             "/sys/module/kvm_pvm"}) {
    struct stat info {};
    if (::stat(module, &info) != 0) continue;
    any_module = true;
    key += fmt::format(" {} {}:{}.{}", module, info.st_ino, info.st_ctim.tv_sec, info.st_ctim.tv_nsec);
  }
  if (!any_module) return std::nullopt;  // a KVM we cannot identify: do not cache
  key += " microcode " + first_line("/sys/devices/system/cpu/cpu0/microcode/version").value_or("?");
  return key;
}

std::optional<std::vector<kvm_cpuid_entry2>> load_cached_cpuid(const std::filesystem::path& path,
                                                               const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  std::string stored_key;
  if (!in || !std::getline(in, stored_key) || stored_key != key) return std::nullopt;
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty() || bytes.size() % sizeof(kvm_cpuid_entry2) != 0) return std::nullopt;
  std::vector<kvm_cpuid_entry2> entries(bytes.size() / sizeof(kvm_cpuid_entry2));
  std::memcpy(entries.data(), bytes.data(), bytes.size());
  return entries;
}

void store_cached_cpuid(const std::filesystem::path& path, const std::string& key,
                        const std::vector<kvm_cpuid_entry2>& entries) {
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  const auto temporary = path.string() + fmt::format(".{}.tmp", ::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << key << '\n';
    out.write(reinterpret_cast<const char*>(entries.data()),
              static_cast<std::streamsize>(entries.size() * sizeof(kvm_cpuid_entry2)));
    if (!out) {
      std::filesystem::remove(temporary, error);
      return;
    }
  }
  std::filesystem::rename(temporary, path, error);
  if (error) std::filesystem::remove(temporary, error);
}

Result<std::vector<kvm_cpuid_entry2>> supported_cpuid_cached(
    const KvmSystem& kvm, const std::optional<std::filesystem::path>& directory,
    const std::optional<std::string>& key) {
  if (!directory || !key) return kvm.supported_cpuid();
  const auto path = *directory / fmt::format("cpuid-{:016x}.bin", std::hash<std::string>{}(*key));
  if (auto cached = load_cached_cpuid(path, *key)) return *cached;
  auto entries = kvm.supported_cpuid();
  if (entries) store_cached_cpuid(path, *key, *entries);
  return entries;
}

}  // namespace hyperlet
