#include "oci/archive_library.h"

#include "core/shared_library.h"

namespace hyperlet::oci {

namespace {

constexpr char kLibrary[] = "libarchive.so.13";

Result<ArchiveLibrary> load() {
  auto library = SharedLibrary::open(kLibrary, "to write the image", "install libarchive13");
  if (!library) return std::unexpected(library.error());
  ArchiveLibrary functions{};
  library->resolve(functions.write_new, "archive_write_new");
  library->resolve(functions.write_set_format_pax_restricted, "archive_write_set_format_pax_restricted");
  library->resolve(functions.write_set_bytes_in_last_block, "archive_write_set_bytes_in_last_block");
  library->resolve(functions.write_open2, "archive_write_open2");
  library->resolve(functions.write_header, "archive_write_header");
  library->resolve(functions.write_data, "archive_write_data");
  library->resolve(functions.write_close, "archive_write_close");
  library->resolve(functions.write_free, "archive_write_free");
  library->resolve(functions.error_string, "archive_error_string");
  library->resolve(functions.entry_new, "archive_entry_new");
  library->resolve(functions.entry_free, "archive_entry_free");
  library->resolve(functions.entry_set_pathname, "archive_entry_set_pathname");
  library->resolve(functions.entry_set_filetype, "archive_entry_set_filetype");
  library->resolve(functions.entry_set_perm, "archive_entry_set_perm");
  library->resolve(functions.entry_set_size, "archive_entry_set_size");
  library->resolve(functions.entry_set_mtime, "archive_entry_set_mtime");
  library->resolve(functions.entry_set_uid, "archive_entry_set_uid");
  library->resolve(functions.entry_set_gid, "archive_entry_set_gid");
  if (auto ok = library->finish("too old"); !ok) return std::unexpected(ok.error());
  return functions;
}

}  // namespace

Result<const ArchiveLibrary*> archive_library() {
  static const Result<ArchiveLibrary> library = load();
  if (!library) return std::unexpected(library.error());
  return &*library;
}

}  // namespace hyperlet::oci
