#include "oci/cgroup_resources.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "memory/guest_layout.h"

namespace hyperlet::oci {

namespace {

using nlohmann::json;

constexpr std::uint64_t kTwoMiB = 2ull << 20;

std::unexpected<Error> refuse(const std::string& field, const std::string& why) {
  return std::unexpected(Error{ExitStatus::kUsage, fmt::format("config.json: linux.resources.{}: {}", field, why)});
}

bool non_empty(const json& section, const char* key) {
  if (!section.contains(key) || section[key].is_null()) return false;
  const json& value = section[key];
  return !(value.is_array() || value.is_object()) || !value.empty();
}

template <typename T>
std::optional<T> optional_number(const json& section, const char* key) {
  if (!section.contains(key) || section[key].is_null()) return std::nullopt;
  return section[key].get<T>();
}

// A number that must be zero (or absent) because hyperlet has nothing that applies it.
Result<void> refuse_non_zero(const json& section, const char* section_name, const char* key, const char* why) {
  if (auto value = optional_number<std::int64_t>(section, key); value && *value != 0) {
    return refuse(fmt::format("{}.{}", section_name, key), fmt::format("{}: {}", *value, why));
  }
  return {};
}

}  // namespace

bool CgroupResources::empty() const {
  return !memory_limit && !memory_reservation && !memory_swap && !cpu_shares && !cpu_quota && !cpu_period &&
         !cpuset_cpus && !cpuset_mems && !pids_limit && !memory_swappiness;
}

Result<CgroupResources> parse_cgroup_resources(const json& resources) {
  CgroupResources parsed;
  if (resources.is_null()) return parsed;
  if (!resources.is_object()) return refuse("", "not an object");
  try {
    if (resources.contains("memory") && !resources["memory"].is_null()) {
      const json& memory = resources["memory"];
      parsed.memory_limit = optional_number<std::int64_t>(memory, "limit");
      parsed.memory_reservation = optional_number<std::int64_t>(memory, "reservation");
      parsed.memory_swap = optional_number<std::int64_t>(memory, "swap");
      parsed.memory_swappiness = optional_number<std::uint64_t>(memory, "swappiness");
      if (parsed.memory_swappiness && *parsed.memory_swappiness > 100) {
        return refuse("memory.swappiness", fmt::format("{}: at most 100", *parsed.memory_swappiness));
      }
      if (memory.value("disableOOMKiller", false)) {
        return refuse("memory.disableOOMKiller", "the VM's host process is never exempt from the OOM killer");
      }
      for (const char* key : {"kernel", "kernelTCP"}) {
        if (memory.contains(key) && !memory[key].is_null()) {
          parsed.notes.push_back(fmt::format(
              "linux.resources.memory.{} not applied: deprecated by the runtime spec (runc ignores it too)", key));
        }
      }
      for (const char* key : {"limit", "reservation", "swap"}) {
        if (auto value = optional_number<std::int64_t>(memory, key); value && *value < -1) {
          return refuse(fmt::format("memory.{}", key), fmt::format("{}: a byte count, or -1 for none", *value));
        }
      }
    }
    if (resources.contains("cpu") && !resources["cpu"].is_null()) {
      const json& cpu = resources["cpu"];
      parsed.cpu_shares = optional_number<std::uint64_t>(cpu, "shares");
      parsed.cpu_quota = optional_number<std::int64_t>(cpu, "quota");
      parsed.cpu_period = optional_number<std::uint64_t>(cpu, "period");
      if (cpu.contains("cpus") && !cpu["cpus"].get<std::string>().empty()) {
        parsed.cpuset_cpus = cpu["cpus"].get<std::string>();
        if (!count_cpu_list(*parsed.cpuset_cpus)) {
          return refuse("cpu.cpus", fmt::format("'{}' is not a CPU list such as 0-3,6", *parsed.cpuset_cpus));
        }
      }
      if (cpu.contains("mems") && !cpu["mems"].get<std::string>().empty()) {
        parsed.cpuset_mems = cpu["mems"].get<std::string>();
        if (!count_cpu_list(*parsed.cpuset_mems)) {
          return refuse("cpu.mems", fmt::format("'{}' is not a node list such as 0-1", *parsed.cpuset_mems));
        }
      }
      if (parsed.cpu_shares && (*parsed.cpu_shares < 2 || *parsed.cpu_shares > 262144)) {
        return refuse("cpu.shares", fmt::format("{}: from 2 to 262144", *parsed.cpu_shares));
      }
      if (parsed.cpu_period && (*parsed.cpu_period < 1000 || *parsed.cpu_period > 1000000)) {
        return refuse("cpu.period", fmt::format("{} µs: from 1000 to 1000000", *parsed.cpu_period));
      }
      if (parsed.cpu_quota && *parsed.cpu_quota > 0 && *parsed.cpu_quota < 1000) {
        return refuse("cpu.quota", fmt::format("{} µs: at least 1000, or -1 for none", *parsed.cpu_quota));
      }
      for (const char* key : {"realtimeRuntime", "realtimePeriod", "burst", "idle"}) {
        if (auto ok = refuse_non_zero(cpu, "cpu", key, "real-time, burst and idle CPU classes are not applied"); !ok) {
          return std::unexpected(ok.error());
        }
      }
    }
    if (resources.contains("pids") && !resources["pids"].is_null()) {
      parsed.pids_limit = optional_number<std::int64_t>(resources["pids"], "limit");
    }
    // Limits on what the VM's host process never uses are met as they are.
    for (const char* key : {"hugepageLimits", "rdma"}) {
      if (non_empty(resources, key)) {
        parsed.notes.push_back(
            fmt::format("linux.resources.{} met without a cgroup file: hyperlet uses none of them", key));
      }
    }
    if (non_empty(resources, "devices")) {
      parsed.notes.push_back(
          "linux.resources.devices not applied: the app reaches no host device, and hyperlet needs /dev/kvm");
    }
    for (const char* key : {"blockIO", "network", "unified"}) {
      if (non_empty(resources, key)) {
        return refuse(key, "not applied by hyperlet-runc (memory, cpu and pids are)");
      }
    }
  } catch (const json::exception& error) {
    return refuse("", error.what());
  }
  return parsed;
}

std::optional<std::uint64_t> guest_memory_for_limit(std::uint64_t limit) {
  if (limit <= kHostReserve) return std::nullopt;
  std::uint64_t size = (limit - kHostReserve) / kTwoMiB * kTwoMiB;
  size = std::min<std::uint64_t>(size, kMaximumGuestMemory);
  if (guest_memory_size_problem(size)) return std::nullopt;
  return size;
}

std::optional<unsigned> count_cpu_list(const std::string& list) {
  unsigned count = 0;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(start, comma - start);
    const std::size_t dash = item.find('-');
    auto number = [](const std::string& text) -> std::optional<unsigned> {
      unsigned value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value > 8191) {
        return std::nullopt;
      }
      return value;
    };
    auto first = number(dash == std::string::npos ? item : item.substr(0, dash));
    auto last = dash == std::string::npos ? first : number(item.substr(dash + 1));
    if (!first || !last || *last < *first) return std::nullopt;
    count += *last - *first + 1;
    start = comma + 1;
  }
  return count;
}

std::optional<unsigned> vcpus_for(const CgroupResources& resources, unsigned host_cpus) {
  unsigned vcpus = host_cpus;
  bool limited = false;
  if (resources.cpu_quota && *resources.cpu_quota > 0) {
    const std::uint64_t period = resources.cpu_period.value_or(100000);
    const std::uint64_t quota = static_cast<std::uint64_t>(*resources.cpu_quota);
    vcpus = static_cast<unsigned>(std::min<std::uint64_t>(vcpus, (quota + period - 1) / period));
    limited = true;
  }
  if (resources.cpuset_cpus) {
    if (auto count = count_cpu_list(*resources.cpuset_cpus)) {
      vcpus = std::min(vcpus, *count);
      limited = true;
    }
  }
  if (!limited) return std::nullopt;
  return std::max(vcpus, 1u);
}

std::uint64_t cpu_weight_from_shares(std::uint64_t shares) {
  if (shares == 0) return 0;
  shares = std::clamp<std::uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

Result<std::string> cgroup_path(const std::string& cgroups_path, const std::string& container_id, bool systemd) {
  auto bad = [&](const std::string& why) -> Result<std::string> {
    return std::unexpected(
        Error{ExitStatus::kUsage, fmt::format("config.json: linux.cgroupsPath '{}': {}", cgroups_path, why)});
  };
  auto clean = [](const std::string& path) -> std::optional<std::string> {
    std::string joined;
    std::size_t start = 0;
    while (start <= path.size()) {
      std::size_t slash = path.find('/', start);
      if (slash == std::string::npos) slash = path.size();
      const std::string part = path.substr(start, slash - start);
      if (part == "..") return std::nullopt;
      if (!part.empty() && part != ".") joined += "/" + part;
      start = slash + 1;
    }
    return joined.empty() ? "/" : joined;
  };
  if (systemd) {
    // slice:prefix:name, as runc's systemd driver takes it.
    const std::size_t first = cgroups_path.find(':');
    const std::size_t second = first == std::string::npos ? first : cgroups_path.find(':', first + 1);
    if (cgroups_path.empty()) return cgroup_path("system.slice:hyperlet-runc:" + container_id, container_id, true);
    if (second == std::string::npos || cgroups_path.find(':', second + 1) != std::string::npos) {
      return bad("with --systemd-cgroup it must be slice:prefix:name");
    }
    std::string slice = cgroups_path.substr(0, first);
    const std::string prefix = cgroups_path.substr(first + 1, second - first - 1);
    const std::string name = cgroups_path.substr(second + 1);
    if (name.empty() || name.find('/') != std::string::npos || prefix.find('/') != std::string::npos) {
      return bad("the name must be a single path component");
    }
    if (slice.empty()) slice = "system.slice";
    if (!slice.ends_with(".slice") || slice.find('/') != std::string::npos) {
      return bad(fmt::format("'{}' is not a slice name (a-b.slice)", slice));
    }
    std::string expanded;
    if (slice != "-.slice") {
      const std::string stem = slice.substr(0, slice.size() - 6);
      if (stem.empty() || stem.starts_with('-') || stem.ends_with('-') || stem.find("--") != std::string::npos) {
        return bad(fmt::format("'{}' is not a slice name (a-b.slice)", slice));
      }
      for (std::size_t dash = stem.find('-');; dash = stem.find('-', dash + 1)) {
        expanded += "/" + stem.substr(0, dash) + ".slice";
        if (dash == std::string::npos) break;
      }
    }
    const std::string unit = prefix.empty() ? name : prefix + "-" + name;
    return expanded + "/" + (unit.ends_with(".slice") ? unit : unit + ".scope");
  }
  const std::string wanted = cgroups_path.empty() ? container_id : cgroups_path;
  auto cleaned = clean(wanted);
  if (!cleaned) return bad("'..' may not climb out of the cgroup tree");
  if (*cleaned == "/") return bad("the root cgroup cannot be a container's");
  return wanted.starts_with('/') ? *cleaned : cleaned->substr(1);
}

}  // namespace hyperlet::oci
