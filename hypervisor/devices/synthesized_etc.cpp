#include "devices/synthesized_etc.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "core/message_prefix.h"

namespace hyperlet {
namespace {

namespace fs = std::filesystem;

std::string read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// A volume at `guest_dir`, or above it with something there, already decides
// what the app sees there. (A volume at / without an etc, as an OCI image's root
// file system holding one static program, still gets the synthesized /etc.)
bool covered(const std::vector<VolumeSpec>& volumes, const std::string& guest_dir) {
  for (const VolumeSpec& volume : volumes) {
    if (volume.guest_dir == guest_dir) return true;
    const std::string above = volume.guest_dir == "/" ? "/" : volume.guest_dir + "/";
    if (!guest_dir.starts_with(above)) continue;
    std::error_code error;
    if (fs::exists(fs::path(volume.host_dir) / guest_dir.substr(above.size()), error)) return true;
  }
  return false;
}

std::optional<fs::path> cache_directory() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return fs::path(xdg) / "hyperlet" / "etc";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return fs::path(home) / ".cache" / "hyperlet" / "etc";
  }
  return std::nullopt;
}

// The directory holding exactly `files`: made once (in a temporary directory
// renamed into place, so a concurrent run never sees it half written), then
// only read.
std::optional<fs::path> materialize(const std::map<std::string, std::string>& files) {
  const auto base = cache_directory();
  if (!base) return std::nullopt;
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const auto& [name, content] : files) {
    XXH3_64bits_update(state, name.data(), name.size() + 1);  // the NUL separates name and content
    const std::uint64_t size = content.size();
    XXH3_64bits_update(state, &size, sizeof size);
    XXH3_64bits_update(state, content.data(), content.size());
  }
  const std::uint64_t digest = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  const fs::path final_path = *base / fmt::format("{:016x}", digest);
  std::error_code error;
  if (fs::is_directory(final_path, error)) return final_path;
  fs::create_directories(*base, error);
  const fs::path temporary = *base / fmt::format(".{:016x}.{}", digest, ::getpid());
  fs::remove_all(temporary, error);
  if (!fs::create_directory(temporary, error)) return std::nullopt;
  for (const auto& [name, content] : files) {
    std::ofstream out(temporary / name, std::ios::binary);
    out << content;
    if (!out) {
      fs::remove_all(temporary, error);
      return std::nullopt;
    }
    out.close();
    ::chmod((temporary / name).c_str(), 0444);
  }
  ::chmod(temporary.c_str(), 0555);
  fs::rename(temporary, final_path, error);
  if (error) {
    ::chmod(temporary.c_str(), 0755);
    fs::remove_all(temporary, error);  // another run put the same content in place first
  }
  return fs::is_directory(final_path, error) ? std::optional(final_path) : std::nullopt;
}

}  // namespace

std::map<std::string, std::string> synthesized_etc_files(const std::string& hostname, const NetworkPolicy& policy,
                                                         const std::string& host_resolv_conf,
                                                         const std::string& host_localtime) {
  std::map<std::string, std::string> files;
  files["hosts"] =
      fmt::format("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n", hostname);
  files["hostname"] = hostname + "\n";
  files["passwd"] =
      "root:x:0:0:root:/root:/bin/sh\n"
      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  files["group"] = "root:x:0:\nnogroup:x:65534:\n";
  files["nsswitch.conf"] =
      "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
      "protocols: files\nservices: files\n";
  if (!host_localtime.empty()) files["localtime"] = host_localtime;
  // Only nameservers the app may reach: a resolver that cannot be asked would
  // make every lookup wait for its timeout.
  std::string resolv;
  std::istringstream lines(host_resolv_conf);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string keyword, address_text;
    if (!(words >> keyword >> address_text) || keyword != "nameserver") continue;
    const auto address = parse_ip_address(address_text);
    if (address && policy.may_connect(Endpoint{*address, 53})) resolv += "nameserver " + address_text + "\n";
  }
  if (!resolv.empty()) files["resolv.conf"] = resolv;
  return files;
}

std::vector<VolumeSpec> synthesized_system_volumes(const std::vector<VolumeSpec>& volumes,
                                                   const std::optional<std::string>& hostname,
                                                   const NetworkPolicy& policy) {
  std::vector<VolumeSpec> added;
  if (!covered(volumes, "/etc")) {
    const auto files = synthesized_etc_files(hostname.value_or("hyperlet"), policy, read_whole("/etc/resolv.conf"),
                                             read_whole("/etc/localtime"));
    if (const auto directory = materialize(files)) {
      added.push_back(VolumeSpec{directory->string(), "/etc", true});
    } else {
      fmt::print(stderr,
                 "{}: note: no cache directory to write /etc's files in ($XDG_CACHE_HOME or $HOME): "
                 "the app sees no /etc\n",
                 message_prefix());
    }
  }
  std::error_code error;
  if (!covered(volumes, "/usr/share/zoneinfo") && fs::is_directory("/usr/share/zoneinfo", error)) {
    added.push_back(VolumeSpec{"/usr/share/zoneinfo", "/usr/share/zoneinfo", true});
  }
  return added;
}

}  // namespace hyperlet
