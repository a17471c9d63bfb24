// Reading and writing an image's hyperlet notes (guest-runtime/include/hyperlet/
// manifest.h): the defaults the app was packaged with and its syscall sites.
// Bytes in, values or a precise complaint out, so every malformed note is
// unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace hyperlet {

// A volume the service expects; the host path is always the command line's.
struct ManifestVolume {
  std::string path;  // guest path, absolute and normalised
  bool read_only = false;
  bool required = true;  // missing on the command line: `run` refuses to start
};

// A small read-only file shipped inside the image, mounted at `path`.
struct ManifestFile {
  std::string path;  // guest path, absolute and normalised
  std::string content;
};

struct Manifest {
  std::uint32_t abi = 0;
  std::optional<std::uint64_t> memory_size;
  std::string memory_text;  // as written, for display ("128M")
  // The default of `run --address-space` (never below the run's memory).
  std::optional<std::uint64_t> address_space;
  std::string address_space_text;
  std::vector<std::string> environment;               // KEY=VALUE
  std::optional<std::vector<std::string>> arguments;  // argv[1..]
  // The service (loader/manifest_service.h checks them): defaults for `run`.
  std::vector<ManifestVolume> volumes;
  std::vector<std::string> publish;        // --publish rules, as written
  std::vector<std::string> allow_connect;  // --allow-connect rules, as written
  std::optional<std::uint32_t> cpus;       // the default of `run --cpus`
  std::optional<std::string> workdir;      // default --workdir
  std::optional<std::string> hostname;     // default --hostname
  std::vector<ManifestFile> files;
};

struct ImageNotes {
  std::optional<Manifest> manifest;
  std::optional<std::vector<std::uint64_t>> syscall_sites;  // link-time addresses
  bool go_runtime = false;  // the Go toolchain's build-ID note: a Go program (guest_layout.h)
};

// What `hyperlet manifest` was told; everything else of the image's manifest stays.
struct ManifestChanges {
  bool start_empty = false;                  // --reset: forget the old manifest first
  std::optional<std::uint64_t> memory_size;  // --memory
  std::string memory_text;
  std::optional<std::uint64_t> address_space;  // --address-space
  std::string address_space_text;
  std::vector<std::string> set_environment;           // --env KEY=VALUE: replaces KEY, or adds it
  std::vector<std::string> unset_environment;         // --unset-env KEY
  std::optional<std::vector<std::string>> arguments;  // --arg (all of them), or --no-args (empty)
  // The service's fields. Lists: set_* replaces the entry with the same key (the
  // guest path; for rules the text) or adds it, unset_* removes by key. Values:
  // outer optional = told, inner nullopt = --unset-*.
  std::vector<ManifestVolume> set_volumes;
  std::vector<std::string> unset_volumes;
  std::vector<std::string> add_publish, unset_publish;
  std::vector<std::string> add_allow_connect, unset_allow_connect;
  std::vector<ManifestFile> set_files;
  std::vector<std::string> unset_files;
  std::optional<std::optional<std::uint32_t>> cpus;
  std::optional<std::optional<std::string>> workdir;
  std::optional<std::optional<std::string>> hostname;
};
Manifest apply_manifest_changes(const std::optional<Manifest>& existing, const ManifestChanges& changes);

// Why the manifest's memory and address space cannot go together (an address
// space below the memory), or nothing.
std::optional<std::string> sizes_problem(const Manifest& manifest);

// KEY=VALUE into `environment`: replaces the variable with the same KEY, else appends.
void set_variable(std::vector<std::string>& environment, const std::string& variable);

// Finds and checks both notes in an ELF file. No notes is not an error.
Result<ImageNotes> read_image_notes(std::span<const std::byte> file, const std::string& name);

// The JSON text of a manifest (the note's description).
std::string manifest_json(const Manifest& manifest);

// Complete ELF notes (header, name, description, padding), ready for a section.
std::vector<std::byte> manifest_note(const Manifest& manifest);
std::vector<std::byte> syscall_sites_note(const std::vector<std::uint64_t>& sites);

}  // namespace hyperlet
