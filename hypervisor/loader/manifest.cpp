#include "loader/manifest.h"

#include <elf.h>
#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <hyperlet/manifest.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/units.h"
#include "core/checked_range.h"
#include "loader/file_bytes.h"
#include "loader/manifest_service.h"
#include "memory/guest_layout.h"

namespace hyperlet {
namespace {

constexpr std::size_t kNameSize = sizeof(manifest::kNoteName);  // 9, with the NUL
constexpr std::size_t align4(std::size_t value) { return (value + 3) & ~std::size_t{3}; }
// The note every Go linker writes (.note.go.buildid): name "Go", type 4.
constexpr char kGoNoteName[] = "Go";
constexpr std::uint32_t kGoBuildIdNote = 4;

std::vector<std::byte> note(std::uint32_t type, std::span<const std::byte> description) {
  std::vector<std::byte> bytes(sizeof(Elf64_Nhdr) + align4(kNameSize) + align4(description.size()));
  const Elf64_Nhdr header{kNameSize, static_cast<Elf64_Word>(description.size()), type};
  std::memcpy(bytes.data(), &header, sizeof(header));
  std::memcpy(bytes.data() + sizeof(header), manifest::kNoteName, kNameSize);
  std::memcpy(bytes.data() + sizeof(header) + align4(kNameSize), description.data(), description.size());
  return bytes;
}

Result<Manifest> parse_manifest(std::string_view text, const std::string& name) {
  auto bad = [&](const std::string& why) -> Result<Manifest> {
    return fail(ExitStatus::kBadImage, "cannot run {}: its hyperlet manifest is malformed: {}", name, why);
  };
  if (text.size() > kManifestMaxJsonSize) {
    return bad(
        fmt::format("{} bytes, more than the {} MiB a manifest may hold", text.size(), kManifestMaxJsonSize >> 20));
  }
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return bad("not valid JSON");
  if (!json.is_object()) return bad("not a JSON object");
  Manifest result;
  if (!json.contains("abi") || !json["abi"].is_number_unsigned()) return bad("no \"abi\" version number");
  const auto abi = json["abi"].get<std::uint64_t>();
  if (abi > abi::kAbiVersion) {
    return fail(ExitStatus::kBadImage,
                "cannot run {}: it was built for hyperlet guest ABI {}, and this hyperlet supports "
                "ABI {} (use a newer hyperlet)",
                name, abi, abi::kAbiVersion);
  }
  if (abi == 0) return bad("\"abi\" is 0");
  result.abi = static_cast<std::uint32_t>(abi);
  for (const auto& [key, value] : json.items()) {
    if (key == "abi") continue;
    if (key == "memory") {
      if (!value.is_string()) return bad("\"memory\" is not a string like \"128M\"");
      auto size = parse_size(value.get<std::string>());
      if (!size) return bad("\"memory\": " + size.error());
      if (auto problem = guest_memory_size_problem(*size)) {
        return bad(fmt::format("\"memory\" {}: {} (run `hyperlet manifest --memory` again)", value.get<std::string>(),
                               *problem));
      }
      result.memory_size = *size;
      result.memory_text = value.get<std::string>();
    } else if (key == "address_space") {
      if (!value.is_string()) return bad("\"address_space\" is not a string like \"2G\"");
      auto size = parse_size(value.get<std::string>());
      if (!size) return bad("\"address_space\": " + size.error());
      if (auto problem = guest_memory_size_problem(*size)) {
        return bad(fmt::format("\"address_space\" {}: {} (run `hyperlet manifest --address-space` again)",
                               value.get<std::string>(), *problem));
      }
      result.address_space = *size;
      result.address_space_text = value.get<std::string>();
    } else if (key == "env" || key == "args") {
      if (!value.is_array()) return bad(fmt::format("\"{}\" is not an array of strings", key));
      std::vector<std::string> items;
      for (const auto& item : value) {
        if (!item.is_string()) return bad(fmt::format("\"{}\" holds a non-string", key));
        items.push_back(item.get<std::string>());
      }
      if (key == "env") {
        for (const std::string& variable : items) {
          if (variable.find('=') == std::string::npos || variable.front() == '=') {
            return bad(fmt::format("\"env\" entry '{}' is not KEY=VALUE", variable));
          }
        }
        result.environment = std::move(items);
      } else {
        result.arguments = std::move(items);
      }
    } else if (is_service_key(key)) {
      if (auto problem = read_service_field(key, value, result)) return bad(*problem);
    } else {
      return bad(fmt::format("unknown key \"{}\" (made by a newer toolchain?)", key));
    }
  }
  if (auto problem = sizes_problem(result)) return bad(*problem);
  if (auto problem = service_problem(result)) return bad(*problem);
  return result;
}

// nullopt for a table of the old linear sweep: it may list data as syscalls.
Result<std::optional<std::vector<std::uint64_t>>> parse_sites(std::span<const std::byte> description,
                                                              const std::string& name) {
  auto bad = [&](const std::string& why) -> Result<std::optional<std::vector<std::uint64_t>>> {
    return fail(ExitStatus::kBadImage, "cannot run {}: its syscall-site note is malformed: {}", name, why);
  };
  std::uint32_t version = 0, count = 0;
  if (!read_at(description, 0, version) || !read_at(description, 4, count)) return bad("truncated header");
  if (version == manifest::kSitesVersionLinearSweep) return std::nullopt;
  if (version != manifest::kSitesVersion) return bad(fmt::format("unknown version {}", version));
  if (description.size() != 8 + std::uint64_t{count} * 8) {
    return bad(fmt::format("{} sites need {} bytes, the note has {}", count, 8 + std::uint64_t{count} * 8,
                           description.size()));
  }
  std::vector<std::uint64_t> sites(count);
  std::memcpy(sites.data(), description.data() + 8, sites.size() * 8);
  if (!std::is_sorted(sites.begin(), sites.end()) || std::adjacent_find(sites.begin(), sites.end()) != sites.end()) {
    return bad("sites are not in ascending order");
  }
  return sites;
}

}  // namespace

Result<ImageNotes> read_image_notes(std::span<const std::byte> file, const std::string& name) {
  ImageNotes notes;
  Elf64_Ehdr header;
  if (!read_at(file, 0, header) || header.e_shentsize != sizeof(Elf64_Shdr)) return notes;
  for (std::uint16_t i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section;
    if (!read_at(file, header.e_shoff + std::uint64_t{i} * sizeof(Elf64_Shdr), section)) break;
    if (section.sh_type != SHT_NOTE) continue;
    if (!range_fits(section.sh_offset, section.sh_size, file.size())) continue;
    const auto contents = file.subspan(section.sh_offset, section.sh_size);
    for (std::uint64_t at = 0; at < contents.size();) {
      Elf64_Nhdr note_header;
      if (!read_at(contents, at, note_header)) break;  // other tools' padding: not ours to judge
      const std::uint64_t name_at = at + sizeof(note_header);
      const std::uint64_t description_at = name_at + align4(note_header.n_namesz);
      const std::uint64_t next = description_at + align4(note_header.n_descsz);
      const bool ours = note_header.n_namesz == kNameSize && range_fits(name_at, kNameSize, contents.size()) &&
                        std::memcmp(contents.data() + name_at, manifest::kNoteName, kNameSize) == 0;
      const bool go_name_fits = (note_header.n_namesz == 3 || note_header.n_namesz == 4) &&
                                range_fits(name_at, note_header.n_namesz, contents.size());
      if (go_name_fits && note_header.n_type == kGoBuildIdNote &&
          std::memcmp(contents.data() + name_at, kGoNoteName, 3) == 0) {
        notes.go_runtime = true;
      }
      if (ours && !range_fits(description_at, note_header.n_descsz, contents.size())) {
        return fail(ExitStatus::kBadImage,
                    "cannot run {}: its hyperlet note is truncated ({} bytes of description announced, "
                    "{} present)",
                    name, note_header.n_descsz, contents.size() - std::min(description_at, contents.size()));
      }
      if (ours) {
        const auto description = contents.subspan(description_at, note_header.n_descsz);
        if (note_header.n_type == manifest::kNoteManifest) {
          auto parsed = parse_manifest(
              std::string_view(reinterpret_cast<const char*>(description.data()), description.size()), name);
          if (!parsed) return std::unexpected(parsed.error());
          notes.manifest = std::move(*parsed);
        } else if (note_header.n_type == manifest::kNoteSyscallSites) {
          auto sites = parse_sites(description, name);
          if (!sites) return std::unexpected(sites.error());
          notes.syscall_sites = std::move(*sites);
        } else {
          return fail(ExitStatus::kBadImage,
                      "cannot run {}: it has a hyperlet note of unknown type {} (made by a newer toolchain?)", name,
                      note_header.n_type);
        }
      }
      if (next <= at) break;
      at = next;
    }
  }
  return notes;
}

std::optional<std::string> sizes_problem(const Manifest& manifest) {
  if (manifest.address_space && manifest.memory_size && *manifest.address_space < *manifest.memory_size) {
    return fmt::format("\"address_space\" {} is less than \"memory\" {}", manifest.address_space_text,
                       manifest.memory_text);
  }
  return std::nullopt;
}

std::string manifest_json(const Manifest& manifest) {
  nlohmann::json json;
  json["abi"] = manifest.abi;
  if (manifest.memory_size) json["memory"] = manifest.memory_text;
  if (manifest.address_space) json["address_space"] = manifest.address_space_text;
  if (!manifest.environment.empty()) json["env"] = manifest.environment;
  if (manifest.arguments) json["args"] = *manifest.arguments;
  write_service_fields(manifest, json);
  return json.dump();
}

std::vector<std::byte> manifest_note(const Manifest& manifest) {
  const std::string text = manifest_json(manifest);
  return note(manifest::kNoteManifest, std::as_bytes(std::span(text.data(), text.size())));
}

std::vector<std::byte> syscall_sites_note(const std::vector<std::uint64_t>& sites) {
  std::vector<std::byte> description(8 + sites.size() * 8);
  const std::uint32_t header[2] = {manifest::kSitesVersion, static_cast<std::uint32_t>(sites.size())};
  std::memcpy(description.data(), header, sizeof(header));
  std::memcpy(description.data() + 8, sites.data(), sites.size() * 8);
  return note(manifest::kNoteSyscallSites, description);
}

namespace {

std::string_view variable_key(std::string_view variable) { return variable.substr(0, variable.find('=')); }

// Lists keep their order: a replaced entry stays where it was, a new one goes last.
template <typename T, typename Key>
void replace_or_add(std::vector<T>& list, T entry, Key key) {
  auto same = std::find_if(list.begin(), list.end(), [&](const T& known) { return key(known) == key(entry); });
  if (same != list.end()) {
    *same = std::move(entry);
  } else {
    list.push_back(std::move(entry));
  }
}

template <typename T, typename Key>
void remove_keys(std::vector<T>& list, const std::vector<std::string>& keys, Key key) {
  std::erase_if(list, [&](const T& entry) { return std::find(keys.begin(), keys.end(), key(entry)) != keys.end(); });
}

void apply_service_changes(Manifest& result, const ManifestChanges& changes) {
  auto by_path = [](const auto& entry) { return entry.path; };
  auto itself = [](const std::string& rule) { return rule; };
  remove_keys(result.volumes, changes.unset_volumes, by_path);
  for (const ManifestVolume& volume : changes.set_volumes) replace_or_add(result.volumes, volume, by_path);
  remove_keys(result.files, changes.unset_files, by_path);
  for (const ManifestFile& file : changes.set_files) replace_or_add(result.files, file, by_path);
  remove_keys(result.publish, changes.unset_publish, itself);
  for (const std::string& rule : changes.add_publish) replace_or_add(result.publish, rule, itself);
  remove_keys(result.allow_connect, changes.unset_allow_connect, itself);
  for (const std::string& rule : changes.add_allow_connect) replace_or_add(result.allow_connect, rule, itself);
  if (changes.cpus) result.cpus = *changes.cpus;
  if (changes.workdir) result.workdir = *changes.workdir;
  if (changes.hostname) result.hostname = *changes.hostname;
}

}  // namespace

void set_variable(std::vector<std::string>& environment, const std::string& variable) {
  auto same = std::find_if(environment.begin(), environment.end(),
                           [&](const std::string& known) { return variable_key(known) == variable_key(variable); });
  if (same != environment.end()) {
    *same = variable;
  } else {
    environment.push_back(variable);
  }
}

Manifest apply_manifest_changes(const std::optional<Manifest>& existing, const ManifestChanges& changes) {
  Manifest result = existing && !changes.start_empty ? *existing : Manifest{};
  if (changes.memory_size) {
    result.memory_size = changes.memory_size;
    result.memory_text = changes.memory_text;
  }
  if (changes.address_space) {
    result.address_space = changes.address_space;
    result.address_space_text = changes.address_space_text;
  }
  for (const std::string& key : changes.unset_environment) {
    std::erase_if(result.environment, [&](const std::string& variable) { return variable_key(variable) == key; });
  }
  for (const std::string& variable : changes.set_environment) set_variable(result.environment, variable);
  if (changes.arguments) result.arguments = changes.arguments->empty() ? std::nullopt : changes.arguments;
  apply_service_changes(result, changes);
  return result;
}

}  // namespace hyperlet
