// Writes an OCI image layout tarball (image-spec "image-layout"): oci-layout,
// index.json and blobs/sha256/ holding the manifest, the config and one gzip
// layer. Deterministic: fixed times and owners, entries in sorted order, a gzip
// header without a time, so the same input gives the same bytes and digests.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"
#include "oci/image_config.h"

namespace hyperlet::oci {

struct LayerFile {
  std::string path;  // relative to the image's root, no leading '/'
  std::string contents;
  unsigned mode = 0755;
};

// "sha256:<hex>" of bytes (nettle, linked statically: small, no start-up cost).
std::string digest_of(std::string_view bytes);

// An uncompressed tar of files, with their parent directories.
Result<std::string> layer_tar(const std::vector<LayerFile>& files);

// bytes as gzip (zlib), with a header that names no time or file.
Result<std::string> gzip(std::string_view bytes);

// Writes the layout tarball of one image to output_path, atomically (a
// temporary file beside it, then rename). Returns the manifest's digest.
Result<std::string> write_image_archive(const std::string& output_path, const Manifest* manifest,
                                        const PackOptions& options, const std::vector<LayerFile>& files);

}  // namespace hyperlet::oci
