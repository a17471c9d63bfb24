#include "devices/synthesized_etc.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "core/message_prefix.h"
#include "devices/content_cache.h"

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

}  // namespace

bool volume_covers(const std::vector<VolumeSpec>& volumes, const std::string& guest_dir) {
  for (const VolumeSpec& volume : volumes) {
    if (volume.guest_dir == guest_dir) return true;
    const std::string above = volume.guest_dir == "/" ? "/" : volume.guest_dir + "/";
    if (!guest_dir.starts_with(above)) continue;
    std::error_code error;
    if (fs::exists(fs::path(volume.host_dir) / guest_dir.substr(above.size()), error)) return true;
  }
  return false;
}

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
  if (!volume_covers(volumes, "/etc")) {
    const auto files = synthesized_etc_files(hostname.value_or("hyperlet"), policy, read_whole("/etc/resolv.conf"),
                                             read_whole("/etc/localtime"));
    if (const auto directory = content_addressed_directory("etc", files)) {
      added.push_back(VolumeSpec{directory->string(), "/etc", true});
    } else {
      fmt::print(stderr,
                 "{}: note: no cache directory to write /etc's files in ($XDG_CACHE_HOME or $HOME): "
                 "the app sees no /etc\n",
                 message_prefix());
    }
  }
  std::error_code error;
  if (!volume_covers(volumes, "/usr/share/zoneinfo") && fs::is_directory("/usr/share/zoneinfo", error)) {
    added.push_back(VolumeSpec{"/usr/share/zoneinfo", "/usr/share/zoneinfo", true});
  }
  return added;
}

}  // namespace hyperlet
