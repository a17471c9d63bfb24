#include "cli/inspect.h"

#include <elf.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hyperlet/abi.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "loader/app_image.h"
#include "loader/initial_stack.h"
#include "loader/symbols.h"
#include "memory/guest_layout.h"
#include "vm/run_options.h"

namespace hyperlet {
namespace {

std::string flags_text(const LoadSegment& segment) {
  return fmt::format("r{}{}", segment.writable ? 'w' : '-', segment.executable ? 'x' : '-');
}

std::string size_text(std::uint64_t bytes) {
  if (bytes >= (1ull << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
  if (bytes >= (1ull << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / (1 << 10));
  return fmt::format("{} B", bytes);
}

// Shell-like, so that empty items and spaces stay visible.
std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    const bool quote = item.empty() || item.find_first_of(" \t'\"") != std::string::npos;
    out += (i == 0 ? "" : " ") + (quote ? "'" + item + "'" : item);
  }
  return out;
}

nlohmann::json manifest_to_json(const Manifest& manifest) {
  nlohmann::json json;
  json["abi"] = manifest.abi;
  json["memory"] = manifest.memory_size ? nlohmann::json(*manifest.memory_size) : nlohmann::json(nullptr);
  json["address_space"] = manifest.address_space ? nlohmann::json(*manifest.address_space) : nlohmann::json(nullptr);
  json["env"] = manifest.environment;
  json["args"] = manifest.arguments ? nlohmann::json(*manifest.arguments) : nlohmann::json(nullptr);
  nlohmann::json volumes = nlohmann::json::array();
  for (const ManifestVolume& volume : manifest.volumes) {
    volumes.push_back({{"path", volume.path}, {"mode", volume.read_only ? "ro" : "rw"}, {"required", volume.required}});
  }
  json["volumes"] = volumes;
  json["publish"] = manifest.publish;
  json["allow_connect"] = manifest.allow_connect;
  json["cpus"] = manifest.cpus ? nlohmann::json(*manifest.cpus) : nlohmann::json(nullptr);
  json["workdir"] = manifest.workdir ? nlohmann::json(*manifest.workdir) : nlohmann::json(nullptr);
  json["hostname"] = manifest.hostname ? nlohmann::json(*manifest.hostname) : nlohmann::json(nullptr);
  nlohmann::json files = nlohmann::json::array();
  for (const ManifestFile& file : manifest.files) files.push_back({{"path", file.path}, {"size", file.content.size()}});
  json["files"] = files;
  return json;
}

// The service's fields, one line each, in the manifest block's indentation.
std::string service_text(const Manifest& manifest) {
  std::vector<std::string> volumes;
  for (const ManifestVolume& volume : manifest.volumes) {
    volumes.push_back(fmt::format("{}:{}:{}", volume.path, volume.read_only ? "ro" : "rw",
                                  volume.required ? "required" : "optional"));
  }
  std::vector<std::string> files;
  for (const ManifestFile& file : manifest.files) {
    files.push_back(fmt::format("{} ({})", file.path, size_text(file.content.size())));
  }
  auto list = [](const std::vector<std::string>& items) { return items.empty() ? std::string("(none)") : join(items); };
  std::string text;
  text += fmt::format("               volumes {}\n", list(volumes));
  text += fmt::format("               publish {}\n", list(manifest.publish));
  text += fmt::format("               allow-connect {}\n", list(manifest.allow_connect));
  text += fmt::format("               cpus {}\n", manifest.cpus ? std::to_string(*manifest.cpus) : "(default)");
  text += fmt::format("               workdir {}\n", manifest.workdir.value_or("(default)"));
  text += fmt::format("               hostname {}\n", manifest.hostname.value_or("(default)"));
  text += fmt::format("               files {}\n",
                      files.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(files, ", ")));
  return text;
}

int print_failure(const std::string& path, const Error& error, bool json) {
  if (json) {
    nlohmann::json out;
    out["path"] = path;
    out["runnable"] = false;
    out["problem"] = error.message;
    out["hyperlet_abi"] = abi::kAbiVersion;
    fmt::print("{}\n", out.dump(2));
  } else {
    fmt::print("image:         {}\nruns:          no: {}\n", path, error.message);
  }
  return to_int(error.status);
}

}  // namespace

int inspect_image(const std::string& path, bool json) {
  auto image = AppImage::open(path);
  if (!image) return print_failure(path, image.error(), json);
  const ElfFile& elf = image->elf();
  const Manifest* manifest = image->notes().manifest ? &*image->notes().manifest : nullptr;
  const std::uint64_t memory =
      manifest != nullptr && manifest->memory_size ? *manifest->memory_size : default_guest_memory(image->notes());
  const std::uint64_t address_space = manifest != nullptr && manifest->address_space
                                          ? std::max(*manifest->address_space, memory)
                                          : default_address_space(image->notes(), memory);
  // Linked against the guest library's I/O overrides (socket buffers, file ring)?
  std::optional<bool> io_paths;  // unknown without a symbol table
  if (image->read_symbols()) io_paths = elf_defines_symbol(image->bytes(), "hyperlet_libc_overrides_linked");
  // The recorded sites must be syscalls in the code, as `run` checks when loading.
  if (image->manifest_sites()) {
    if (auto ok = image->read_code(); !ok) return print_failure(path, ok.error(), json);
    std::vector<std::span<const std::byte>> code;
    for (const LoadSegment& segment : elf.segments) {
      if (segment.executable) code.push_back(image->bytes().subspan(segment.file_offset, segment.file_size));
    }
    if (auto site = first_site_not_a_syscall(*image, *image->manifest_sites(), code)) {
      return print_failure(path, Error{ExitStatus::kBadImage, not_a_syscall_message(*image, *site)}, json);
    }
  }
  // Would it fit the memory it would get, and its manifest's arguments its stack?
  auto layout = compute_guest_layout(address_space, image->start(), image->end(), memory);
  if (layout && manifest != nullptr) {
    InitialStackInput stack_input{};
    stack_input.stack_top = layout->stack_top;
    stack_input.arguments.push_back(path);
    if (manifest->arguments) {
      stack_input.arguments.insert(stack_input.arguments.end(), manifest->arguments->begin(),
                                   manifest->arguments->end());
    }
    stack_input.environment = manifest->environment;
    stack_input.exec_filename = path;
    if (!leaves_room_to_run(build_initial_stack(stack_input), layout->stack_bottom)) {
      layout = fail(ExitStatus::kBadImage,
                    "its manifest's arguments and environment do not fit on the app's stack ({} KiB at {}M)",
                    (layout->stack_top - layout->stack_bottom) >> 10, memory >> 20);
    }
  }
  if (layout) {
    if (auto warning = memory_warning(image->notes(), address_space, path))
      layout = fail(ExitStatus::kBadImage, "{}", *warning);
  }
  const bool runnable = layout.has_value();

  if (json) {
    nlohmann::json out;
    out["path"] = path;
    out["runnable"] = runnable;
    out["problem"] = runnable ? nlohmann::json(nullptr) : nlohmann::json(layout.error().message);
    out["hyperlet_abi"] = abi::kAbiVersion;
    out["elf"] = {{"type", elf.position_independent ? "static-pie" : "static"},
                  {"machine", "x86-64"},
                  {"entry", image->entry()},
                  {"load_bias", image->load_bias()},
                  {"image_start", image->start()},
                  {"image_end", image->end()}};
    nlohmann::json segments = nlohmann::json::array();
    for (const LoadSegment& segment : elf.segments) {
      segments.push_back({{"address", segment.virtual_address + image->load_bias()},
                          {"file_size", segment.file_size},
                          {"memory_size", segment.memory_size},
                          {"flags", flags_text(segment)}});
    }
    out["elf"]["segments"] = segments;
    out["manifest"] = manifest != nullptr ? manifest_to_json(*manifest) : nlohmann::json(nullptr);
    out["memory"] = memory;
    out["address_space"] = address_space;
    out["go_runtime"] = image->notes().go_runtime;
    out["io_without_traps"] = io_paths ? nlohmann::json(*io_paths) : nlohmann::json(nullptr);
    out["syscall_sites"] =
        image->notes().syscall_sites ? nlohmann::json(image->notes().syscall_sites->size()) : nlohmann::json(nullptr);
    fmt::print("{}\n", out.dump(2));
    return runnable ? 0 : to_int(layout.error().status);
  }

  std::string text;
  text += fmt::format("image:         {}\n", path);
  text += fmt::format("format:        {} x86-64 ELF{}\n", elf.position_independent ? "static-pie" : "static",
                      elf.position_independent ? fmt::format(" (loaded at {:#x})", image->start()) : "");
  text += fmt::format("entry:         {:#x}\n", image->entry());
  text += fmt::format("memory image:  {:#x}-{:#x} ({})\n", image->start(), image->end(),
                      size_text(image->end() - image->start()));
  text += fmt::format("segments:      {}\n", elf.segments.size());
  for (const LoadSegment& segment : elf.segments) {
    text += fmt::format("  {:#10x}  {}  file {:>10}  memory {:>10}\n", segment.virtual_address + image->load_bias(),
                        flags_text(segment), size_text(segment.file_size), size_text(segment.memory_size));
  }
  if (manifest != nullptr) {
    text += fmt::format("guest ABI:     {} (this hyperlet: {})\n", manifest->abi, abi::kAbiVersion);
    text += fmt::format("manifest:      memory {}\n", manifest->memory_size ? manifest->memory_text : "(default)");
    if (manifest->address_space) text += fmt::format("               address space {}\n", manifest->address_space_text);
    text +=
        fmt::format("               env {}\n", manifest->environment.empty() ? "(none)" : join(manifest->environment));
    text += fmt::format("               args {}\n", manifest->arguments ? join(*manifest->arguments) : "(none)");
    text += service_text(*manifest);
  } else {
    text += "guest ABI:     not recorded (no hyperlet manifest: defaults apply)\n";
  }
  text += fmt::format("memory:        {} MiB{}\n", memory >> 20,
                      manifest != nullptr && manifest->memory_size ? "" : " (default)");
  if (address_space != memory) {
    text +=
        fmt::format("address space: {} MiB ({}; the part beyond the memory holds reservations only)\n",
                    address_space >> 20, manifest != nullptr && manifest->address_space ? "the manifest's" : "default");
  }
  if (image->notes().go_runtime) {
    text +=
        "runtime:       Go (its runtime reserves about 512 MiB of address space at start: --memory + 1G by "
        "default)\n";
  }
  text += image->notes().syscall_sites
              ? fmt::format("syscall sites: {} recorded in the image\n", image->notes().syscall_sites->size())
              : std::string("syscall sites: not recorded (found by decoding at the first run, then cached)\n");
  text += !io_paths   ? std::string("I/O paths:     unknown (no symbol table)\n")
          : *io_paths ? std::string(
                            "I/O paths:     socket buffers and file ring (guest library linked): reads and "
                            "writes of connections and volume files without a trap per call\n")
                      : std::string(
                            "I/O paths:     every I/O call is a trap and a VM exit (not linked with the guest "
                            "library; build with the toolchain for socket buffers and the file ring)\n");
  text +=
      runnable ? std::string("runs:          yes\n") : fmt::format("runs:          no: {}\n", layout.error().message);
  fmt::print("{}", text);
  return runnable ? 0 : to_int(layout.error().status);
}

}  // namespace hyperlet
