#include "oci/image_layout.h"

#include <fcntl.h>
#include <nettle/sha2.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "oci/archive_library.h"

namespace hyperlet::oci {

namespace {

struct ArchiveDeleter {
  const ArchiveLibrary* library;
  void operator()(archive* handle) const { library->write_free(handle); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

struct EntryDeleter {
  const ArchiveLibrary* library;
  void operator()(archive_entry* entry) const { library->entry_free(entry); }
};

la_ssize_t append_to_string(archive*, void* target, const void* buffer, size_t length) {
  static_cast<std::string*>(target)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

// A tar writer whose every entry has the same fixed time, owner and no names,
// so the bytes depend only on the paths and contents.
class TarWriter {
 public:
  Result<void> open(std::string& output) {
    auto library = archive_library();
    if (!library) return std::unexpected(library.error());
    lib_ = *library;
    handle_ = ArchivePtr(lib_->write_new(), ArchiveDeleter{lib_});
    if (!handle_) return fail(ExitStatus::kUsage, "cannot write a tar archive: out of memory");
    // pax restricted: ustar headers unless a name needs more (then a pax header).
    if (lib_->write_set_format_pax_restricted(handle_.get()) != ARCHIVE_OK ||
        lib_->write_set_bytes_in_last_block(handle_.get(), 1) != ARCHIVE_OK ||
        lib_->write_open2(handle_.get(), &output, nullptr, append_to_string, nullptr, nullptr) != ARCHIVE_OK) {
      return failure("open");
    }
    return {};
  }

  Result<void> add_directory(const std::string& path) { return add(path, AE_IFDIR, 0755, {}); }
  Result<void> add_file(const std::string& path, std::string_view contents, unsigned mode) {
    return add(path, AE_IFREG, mode, contents);
  }

  Result<void> close() {
    if (lib_->write_close(handle_.get()) != ARCHIVE_OK) return failure("close");
    return {};
  }

 private:
  Result<void> add(const std::string& path, unsigned type, unsigned mode, std::string_view contents) {
    std::unique_ptr<archive_entry, EntryDeleter> entry(lib_->entry_new(), EntryDeleter{lib_});
    lib_->entry_set_pathname(entry.get(), path.c_str());
    lib_->entry_set_filetype(entry.get(), type);
    lib_->entry_set_perm(entry.get(), static_cast<mode_t>(mode));
    lib_->entry_set_size(entry.get(), static_cast<la_int64_t>(contents.size()));
    lib_->entry_set_mtime(entry.get(), 0, 0);
    lib_->entry_set_uid(entry.get(), 0);
    lib_->entry_set_gid(entry.get(), 0);
    if (lib_->write_header(handle_.get(), entry.get()) != ARCHIVE_OK) return failure(path);
    if (!contents.empty() &&
        lib_->write_data(handle_.get(), contents.data(), contents.size()) != static_cast<la_ssize_t>(contents.size())) {
      return failure(path);
    }
    return {};
  }

  std::unexpected<Error> failure(const std::string& what) {
    const char* why = lib_->error_string(handle_.get());
    return fail(ExitStatus::kUsage, "cannot write tar entry {}: {}", what, why != nullptr ? why : "unknown error");
  }

  const ArchiveLibrary* lib_ = nullptr;
  ArchivePtr handle_{nullptr, ArchiveDeleter{nullptr}};
};

// Every parent directory of path ("a/b/c" → "a/", "a/b/"), as tar names them.
void add_parents(const std::string& path, std::set<std::string>& directories) {
  for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    directories.insert(path.substr(0, slash + 1));
  }
}

Result<std::string> tar_of(const std::set<std::string>& directories,
                           const std::map<std::string, std::pair<std::string_view, unsigned>>& files) {
  std::string output;
  TarWriter writer;
  if (auto ok = writer.open(output); !ok) return std::unexpected(ok.error());
  // Sorted as one list, so a directory comes right before what it holds.
  std::map<std::string, const std::pair<std::string_view, unsigned>*> entries;
  for (const std::string& directory : directories) entries[directory] = nullptr;
  for (const auto& [path, file] : files) entries[path] = &file;
  for (const auto& [path, file] : entries) {
    auto ok = file == nullptr ? writer.add_directory(path) : writer.add_file(path, file->first, file->second);
    if (!ok) return std::unexpected(ok.error());
  }
  if (auto ok = writer.close(); !ok) return std::unexpected(ok.error());
  return output;
}

}  // namespace

std::string digest_of(std::string_view bytes) {
  sha256_ctx context;
  sha256_init(&context);
  sha256_update(&context, bytes.size(), reinterpret_cast<const std::uint8_t*>(bytes.data()));
  std::uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&context, sizeof digest, digest);
  std::string text = "sha256:";
  for (std::uint8_t byte : digest) text += fmt::format("{:02x}", byte);
  return text;
}

Result<std::string> layer_tar(const std::vector<LayerFile>& files) {
  std::set<std::string> directories;
  std::map<std::string, std::pair<std::string_view, unsigned>> by_path;
  for (const LayerFile& file : files) {
    add_parents(file.path, directories);
    by_path[file.path] = {file.contents, file.mode};
  }
  return tar_of(directories, by_path);
}

Result<std::string> gzip(std::string_view bytes) {
  z_stream stream{};
  // windowBits 15 + 16: a gzip wrapper, whose header zlib writes with time 0 and no name.
  if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return fail(ExitStatus::kUsage, "cannot compress the layer: zlib failed to start");
  }
  std::string output(deflateBound(&stream, static_cast<uLong>(bytes.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = reinterpret_cast<Bytef*>(output.data());
  stream.avail_out = static_cast<uInt>(output.size());
  const int result = deflate(&stream, Z_FINISH);
  output.resize(stream.total_out);
  deflateEnd(&stream);
  if (result != Z_STREAM_END) return fail(ExitStatus::kUsage, "cannot compress the layer: zlib error {}", result);
  return output;
}

Result<std::string> write_image_archive(const std::string& output_path, const Manifest* manifest,
                                        const PackOptions& options, const std::vector<LayerFile>& files) {
  auto layer = layer_tar(files);
  if (!layer) return std::unexpected(layer.error());
  auto compressed = gzip(*layer);
  if (!compressed) return std::unexpected(compressed.error());

  const Blob layer_blob{"application/vnd.oci.image.layer.v1.tar+gzip", digest_of(*compressed), compressed->size()};
  const std::string config = canonical_json(image_config(manifest, options, digest_of(*layer)));
  const Blob config_blob{"application/vnd.oci.image.config.v1+json", digest_of(config), config.size()};
  const std::string image =
      canonical_json(image_manifest(config_blob, layer_blob, hyperlet_annotations(manifest, options)));
  const Blob manifest_blob{"application/vnd.oci.image.manifest.v1+json", digest_of(image), image.size()};
  const std::string index = canonical_json(image_index(manifest_blob, options.reference));
  const std::string layout = canonical_json({{"imageLayoutVersion", "1.0.0"}});

  auto blob_path = [](const Blob& blob) { return "blobs/sha256/" + blob.digest.substr(7); };
  std::map<std::string, std::pair<std::string_view, unsigned>> entries = {
      {"oci-layout", {layout, 0644}},
      {"index.json", {index, 0644}},
      {blob_path(layer_blob), {*compressed, 0644}},
      {blob_path(config_blob), {config, 0644}},
      {blob_path(manifest_blob), {image, 0644}},
  };
  auto archive_bytes = tar_of({"blobs/", "blobs/sha256/"}, entries);
  if (!archive_bytes) return std::unexpected(archive_bytes.error());

  // Beside the output, so the rename is atomic: a reader never sees half an image.
  const std::string temporary = output_path + ".tmp-XXXXXX";
  std::string name = temporary;
  const int fd = mkstemp(name.data());
  if (fd < 0) return fail(ExitStatus::kUsage, "cannot write {}: {}", output_path, std::strerror(errno));
  std::string_view rest = *archive_bytes;
  while (!rest.empty()) {
    const ssize_t written = ::write(fd, rest.data(), rest.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(name.c_str());
      return fail(ExitStatus::kUsage, "cannot write {}: {}", output_path, std::strerror(error));
    }
    rest.remove_prefix(static_cast<std::size_t>(written));
  }
  const bool mode_set = ::fchmod(fd, 0644) == 0;  // mkstemp's 0600 would hide the image from other users
  const bool closed = ::close(fd) == 0;
  if (!mode_set || !closed || ::rename(name.c_str(), output_path.c_str()) != 0) {
    const int error = errno;
    ::unlink(name.c_str());
    return fail(ExitStatus::kUsage, "cannot write {}: {}", output_path, std::strerror(error));
  }
  return manifest_blob.digest;
}

}  // namespace hyperlet::oci
