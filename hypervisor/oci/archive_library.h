// libarchive, loaded when an archive is written (dlopen), not linked: linked,
// its shared library and the ones it needs (libxml2, ICU, nettle, lzma, zstd...)
// would be loaded by every `hyperlet run`, and process start is part of every
// boot (DESIGN.md, "Images and the toolchain"). Its static archive cannot be
// linked alone either: any tar format pulls in libarchive's table of every
// format, and with it ICU.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "core/error.h"

namespace hyperlet::oci {

// The libarchive functions image_layout.cpp uses, resolved from libarchive.so.13.
struct ArchiveLibrary {
  decltype(&::archive_write_new) write_new;
  decltype(&::archive_write_set_format_pax_restricted) write_set_format_pax_restricted;
  decltype(&::archive_write_set_bytes_in_last_block) write_set_bytes_in_last_block;
  decltype(&::archive_write_open2) write_open2;
  decltype(&::archive_write_header) write_header;
  decltype(&::archive_write_data) write_data;
  decltype(&::archive_write_close) write_close;
  decltype(&::archive_write_free) write_free;
  decltype(&::archive_error_string) error_string;
  decltype(&::archive_entry_new) entry_new;
  decltype(&::archive_entry_free) entry_free;
  decltype(&::archive_entry_set_pathname) entry_set_pathname;
  decltype(&::archive_entry_set_filetype) entry_set_filetype;
  decltype(&::archive_entry_set_perm) entry_set_perm;
  decltype(&::archive_entry_set_size) entry_set_size;
  decltype(&::archive_entry_set_mtime) entry_set_mtime;
  decltype(&::archive_entry_set_uid) entry_set_uid;
  decltype(&::archive_entry_set_gid) entry_set_gid;
};

// Loads libarchive once; the error names the library and says what to install.
Result<const ArchiveLibrary*> archive_library();

}  // namespace hyperlet::oci
