#include "oci/archive_library.h"

#include <dlfcn.h>

namespace hyperlet::oci {

namespace {

constexpr char kLibrary[] = "libarchive.so.13";

Result<ArchiveLibrary> load() {
  void* handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return fail(ExitStatus::kUsage, "cannot load {}: {} (install libarchive13)", kLibrary, ::dlerror());
  }
  ArchiveLibrary library{};
  std::string missing;
  auto resolve = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(::dlsym(handle, name));
    if (function == nullptr) missing = name;
  };
  resolve(library.write_new, "archive_write_new");
  resolve(library.write_set_format_pax_restricted, "archive_write_set_format_pax_restricted");
  resolve(library.write_set_bytes_in_last_block, "archive_write_set_bytes_in_last_block");
  resolve(library.write_open2, "archive_write_open2");
  resolve(library.write_header, "archive_write_header");
  resolve(library.write_data, "archive_write_data");
  resolve(library.write_close, "archive_write_close");
  resolve(library.write_free, "archive_write_free");
  resolve(library.error_string, "archive_error_string");
  resolve(library.entry_new, "archive_entry_new");
  resolve(library.entry_free, "archive_entry_free");
  resolve(library.entry_set_pathname, "archive_entry_set_pathname");
  resolve(library.entry_set_filetype, "archive_entry_set_filetype");
  resolve(library.entry_set_perm, "archive_entry_set_perm");
  resolve(library.entry_set_size, "archive_entry_set_size");
  resolve(library.entry_set_mtime, "archive_entry_set_mtime");
  resolve(library.entry_set_uid, "archive_entry_set_uid");
  resolve(library.entry_set_gid, "archive_entry_set_gid");
  if (!missing.empty()) return fail(ExitStatus::kUsage, "{} has no {}: too old", kLibrary, missing);
  return library;
}

}  // namespace

Result<const ArchiveLibrary*> archive_library() {
  static const Result<ArchiveLibrary> library = load();
  if (!library) return std::unexpected(library.error());
  return &*library;
}

}  // namespace hyperlet::oci
