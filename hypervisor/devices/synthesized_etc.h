// What a static program expects to find under /etc, when the command line maps
// nothing there: hosts (localhost and the hostname), passwd and group (root,
// nobody), nsswitch.conf, hostname, localtime (the host's zone), and
// resolv.conf with the host's nameservers only when an --allow-connect rule
// lets the app reach one of them on port 53. So getpwnam("root"),
// getaddrinfo("localhost") and localtime() work without a volume.
//
// The files are written once into a content-addressed, read-only directory
// under hyperlet's cache ($XDG_CACHE_HOME/hyperlet/etc/<hash>,
// devices/content_cache.h) and given to the app as a read-only volume at /etc; runs with the same content share it, and
// nothing is left per run. A volume at /etc, or one above it that has an etc
// directory (a volume at / over a whole root file system), replaces it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "devices/network_policy.h"
#include "devices/volumes.h"

namespace hyperlet {

// Whether a volume of `volumes` decides what the app sees at `guest_path`: one
// at it, or one above it with something there on the host. (A volume at /
// without an etc, as an OCI image's root file system holding one static
// program, still gets the synthesized /etc.)
bool volume_covers(const std::vector<VolumeSpec>& volumes, const std::string& guest_path);

// The files, by name, for this hostname and policy; `host_resolv_conf` is the
// text of the host's /etc/resolv.conf (its nameserver lines are read) and
// `host_localtime` the bytes of its /etc/localtime (empty: UTC, no file).
std::map<std::string, std::string> synthesized_etc_files(const std::string& hostname, const NetworkPolicy& policy,
                                                         const std::string& host_resolv_conf,
                                                         const std::string& host_localtime);

// The volumes to add for `volumes` as given: /etc (read-only, the files above)
// unless a volume covers /etc already (at /etc, or above it with an etc there), and /usr/share/zoneinfo (the host's
// tzdata, read-only, for TZ=Area/City) unless one covers it or the host has
// none. No cache directory to write in: no /etc (a note on stderr).
std::vector<VolumeSpec> synthesized_system_volumes(const std::vector<VolumeSpec>& volumes,
                                                   const std::optional<std::string>& hostname,
                                                   const NetworkPolicy& policy);

}  // namespace hyperlet
