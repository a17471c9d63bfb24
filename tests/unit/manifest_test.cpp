// The image notes: round trips, and every way a note can be malformed.
#include "loader/manifest.h"

#include <elf.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>
#include <hyperlet/manifest.h>

#include <cstring>

#include "elf_builder.h"
#include "loader/base64.h"
#include "loader/manifest_service.h"
#include "test_printers.h"

namespace hyperlet {
namespace {

using testing::ElfImage;
using testing::to_bytes;

constexpr std::uint64_t kNotesAt = 0x2400;
constexpr std::uint64_t kSectionTableAt = 0x2c00;

// An executable with one SHT_NOTE section holding `notes` (raw bytes); notes
// larger than the room before the section table go after it.
std::vector<std::byte> image_with_notes(const std::vector<std::byte>& notes) {
  ElfImage image = ElfImage::static_executable();
  const bool large = notes.size() > kSectionTableAt - kNotesAt;
  const std::uint64_t notes_at = large ? kSectionTableAt + 2 * sizeof(Elf64_Shdr) : kNotesAt;
  image.file_size = kSectionTableAt + 2 * sizeof(Elf64_Shdr) + (large ? notes.size() : 0);
  image.header.e_shoff = kSectionTableAt;
  Elf64_Shdr null_section{};
  Elf64_Shdr note_section{};
  note_section.sh_type = SHT_NOTE;
  note_section.sh_offset = notes_at;
  note_section.sh_size = notes.size();
  image.section_headers = {null_section, note_section};
  image.add_blob(notes_at, notes);
  return image.bytes();
}

std::vector<std::byte> raw_note(std::uint32_t type, const std::vector<std::byte>& description,
                                std::uint32_t announced_size) {
  std::vector<std::byte> bytes(12 + 12 + ((description.size() + 3) & ~std::size_t{3}));
  const std::uint32_t header[3] = {9, announced_size, type};
  std::memcpy(bytes.data(), header, 12);
  std::memcpy(bytes.data() + 12, "hyperlet", 9);
  std::memcpy(bytes.data() + 24, description.data(), description.size());
  return bytes;
}

Result<ImageNotes> notes_of(std::string_view json) {
  const auto description = to_bytes(json);
  return read_image_notes(
      image_with_notes(raw_note(manifest::kNoteManifest, description, static_cast<std::uint32_t>(description.size()))),
      "app");
}

void expect_refused(const Result<ImageNotes>& notes, std::string_view part) {
  ASSERT_FALSE(notes.has_value()) << "accepted; expected a refusal saying: " << part;
  EXPECT_EQ(notes.error().status, ExitStatus::kBadImage);
  EXPECT_NE(notes.error().message.find(part), std::string::npos) << notes.error().message;
}

TEST(Manifest, NoNotesIsNotAnError) {
  auto notes = read_image_notes(ElfImage::static_executable().bytes(), "app");
  ASSERT_TRUE(notes.has_value());
  EXPECT_FALSE(notes->manifest.has_value());
  EXPECT_FALSE(notes->syscall_sites.has_value());
}

TEST(Manifest, RoundTripsEveryField) {
  Manifest written;
  written.abi = abi::kAbiVersion;
  written.memory_size = 64ull << 20;
  written.memory_text = "64M";
  written.address_space = 2ull << 30;
  written.address_space_text = "2G";
  written.environment = {"GREETING=hi", "EMPTY="};
  written.arguments = std::vector<std::string>{"one", "two words", "--flag"};
  std::vector<std::byte> notes = manifest_note(written);
  const auto sites = syscall_sites_note({0x401000, 0x401010, 0x402000});
  notes.insert(notes.end(), sites.begin(), sites.end());
  auto read = read_image_notes(image_with_notes(notes), "app");
  ASSERT_TRUE(read.has_value()) << read.error().message;
  ASSERT_TRUE(read->manifest.has_value());
  EXPECT_EQ(read->manifest->abi, abi::kAbiVersion);
  EXPECT_EQ(read->manifest->memory_size, 64ull << 20);
  EXPECT_EQ(read->manifest->memory_text, "64M");
  EXPECT_EQ(read->manifest->address_space, 2ull << 30);
  EXPECT_EQ(read->manifest->address_space_text, "2G");
  EXPECT_EQ(read->manifest->environment, written.environment);
  EXPECT_EQ(read->manifest->arguments, written.arguments);
  EXPECT_EQ(read->syscall_sites, (std::vector<std::uint64_t>{0x401000, 0x401010, 0x402000}));
}

TEST(Manifest, MinimalManifestHasOnlyAbi) {
  auto notes = notes_of(R"({"abi": 1})");
  ASSERT_TRUE(notes.has_value());
  EXPECT_FALSE(notes->manifest->memory_size.has_value());
  EXPECT_TRUE(notes->manifest->environment.empty());
  EXPECT_FALSE(notes->manifest->arguments.has_value());
}

TEST(Manifest, EmptyArgsArrayMeansNoArguments) {
  auto notes = notes_of(R"({"abi": 1, "args": []})");
  ASSERT_TRUE(notes.has_value());
  ASSERT_TRUE(notes->manifest->arguments.has_value());
  EXPECT_TRUE(notes->manifest->arguments->empty());
}

TEST(Manifest, NewerAbiIsRefusedWithAHint) {
  expect_refused(notes_of(R"({"abi": 2})"), "built for hyperlet guest ABI 2");
  expect_refused(notes_of(R"({"abi": 2})"), "use a newer hyperlet");
}

TEST(Manifest, MalformedJsonAndFieldsAreRefused) {
  expect_refused(notes_of("{\"abi\": 1"), "not valid JSON");
  expect_refused(notes_of("[1, 2]"), "not a JSON object");
  expect_refused(notes_of(R"({"memory": "64M"})"), "no \"abi\"");
  expect_refused(notes_of(R"({"abi": "1"})"), "no \"abi\"");
  expect_refused(notes_of(R"({"abi": 0})"), "\"abi\" is 0");
  expect_refused(notes_of(R"({"abi": 1, "memory": 64})"), "\"memory\" is not a string");
  expect_refused(notes_of(R"({"abi": 1, "memory": "lots"})"), "\"memory\"");
  expect_refused(notes_of(R"({"abi": 1, "address_space": 2048})"), "\"address_space\" is not a string");
  expect_refused(notes_of(R"({"abi": 1, "address_space": "3M"})"), "\"address_space\" 3M: must be a multiple of 2M");
  expect_refused(notes_of(R"({"abi": 1, "memory": "256M", "address_space": "128M"})"),
                 "\"address_space\" 128M is less than \"memory\" 256M");
  expect_refused(notes_of(R"({"abi": 1, "env": "A=1"})"), "\"env\" is not an array");
  expect_refused(notes_of(R"({"abi": 1, "env": ["NOVALUE"]})"), "not KEY=VALUE");
  expect_refused(notes_of(R"({"abi": 1, "args": [1]})"), "\"args\" holds a non-string");
  expect_refused(notes_of(R"({"abi": 1, "ports": []})"), "unknown key \"ports\"");
}

TEST(Manifest, TruncatedNoteIsRefused) {
  const auto description = to_bytes(std::string_view(R"({"abi": 1})"));
  auto note = raw_note(manifest::kNoteManifest, description, 4000);  // announces more than there is
  expect_refused(read_image_notes(image_with_notes(note), "app"), "truncated");
}

TEST(Manifest, UnknownNoteTypeIsRefused) {
  auto note = raw_note(7, to_bytes(std::string_view("xx")), 2);
  expect_refused(read_image_notes(image_with_notes(note), "app"), "unknown type 7");
}

TEST(Manifest, OtherOwnersNotesAreIgnored) {
  std::vector<std::byte> gnu(12 + 4 + 4);
  const std::uint32_t header[3] = {4, 4, NT_GNU_ABI_TAG};
  std::memcpy(gnu.data(), header, 12);
  std::memcpy(gnu.data() + 12, "GNU", 4);
  auto notes = read_image_notes(image_with_notes(gnu), "app");
  ASSERT_TRUE(notes.has_value());
  EXPECT_FALSE(notes->manifest.has_value());
}

// A note as the Go linker writes it (.note.go.buildid): owner `name`, `type`.
std::vector<std::byte> go_style_note(std::string_view name, std::uint32_t type) {
  const std::string build_id = "HZO_GEYXod28JBH2JBKH/dPKe59zFiabN8lvB_TUZ";
  std::vector<std::byte> bytes(12 + 4 + ((build_id.size() + 3) & ~std::size_t{3}));
  const std::uint32_t header[3] = {static_cast<std::uint32_t>(name.size() + 1),
                                   static_cast<std::uint32_t>(build_id.size()), type};
  std::memcpy(bytes.data(), header, 12);
  std::memcpy(bytes.data() + 12, name.data(), name.size());
  std::memcpy(bytes.data() + 16, build_id.data(), build_id.size());
  return bytes;
}

TEST(Manifest, GoBuildIdNoteMarksAGoProgram) {
  auto go = read_image_notes(image_with_notes(go_style_note("Go", 4)), "app");
  ASSERT_TRUE(go.has_value());
  EXPECT_TRUE(go->go_runtime);
  EXPECT_FALSE(go->manifest.has_value());
  // Another type, another owner, or a name that only starts alike: not Go's build ID.
  for (const auto& note : {go_style_note("Go", 3), go_style_note("Gx", 4), go_style_note("Goo", 4)}) {
    auto other = read_image_notes(image_with_notes(note), "app");
    ASSERT_TRUE(other.has_value());
    EXPECT_FALSE(other->go_runtime);
  }
  auto plain = read_image_notes(ElfImage::static_executable().bytes(), "app");
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->go_runtime);
}

TEST(SyscallSitesNote, WrongSizesAndOrderAreRefused) {
  auto sites_note = [](std::uint32_t version, std::uint32_t count, std::vector<std::uint64_t> sites) {
    std::vector<std::byte> description(8 + sites.size() * 8);
    const std::uint32_t header[2] = {version, count};
    std::memcpy(description.data(), header, 8);
    std::memcpy(description.data() + 8, sites.data(), sites.size() * 8);
    return raw_note(manifest::kNoteSyscallSites, description, static_cast<std::uint32_t>(description.size()));
  };
  expect_refused(
      read_image_notes(image_with_notes(sites_note(manifest::kSitesVersion, 3, {0x401000, 0x401008})), "app"),
      "3 sites need 32 bytes");
  expect_refused(read_image_notes(image_with_notes(sites_note(9, 1, {0x401000})), "app"), "unknown version 9");
  expect_refused(
      read_image_notes(image_with_notes(sites_note(manifest::kSitesVersion, 2, {0x402000, 0x401000})), "app"),
      "ascending");
  expect_refused(
      read_image_notes(image_with_notes(sites_note(manifest::kSitesVersion, 2, {0x401000, 0x401000})), "app"),
      "ascending");
  auto short_note = raw_note(manifest::kNoteSyscallSites, to_bytes(std::string_view("abcd")), 4);
  expect_refused(read_image_notes(image_with_notes(short_note), "app"), "truncated header");
}

// Version 1 tables came from a linear sweep that took data in .text for
// syscalls: ignored, so the loader analyses the code itself.
TEST(SyscallSitesNote, LinearSweepTablesAreIgnored) {
  std::vector<std::byte> description(16);
  const std::uint32_t header[2] = {manifest::kSitesVersionLinearSweep, 1};
  const std::uint64_t site = 0x401000;
  std::memcpy(description.data(), header, sizeof(header));
  std::memcpy(description.data() + 8, &site, sizeof(site));
  auto notes = read_image_notes(image_with_notes(raw_note(manifest::kNoteSyscallSites, description, 16)), "app");
  ASSERT_TRUE(notes.has_value()) << notes.error().message;
  EXPECT_FALSE(notes->syscall_sites.has_value());
}

TEST(SyscallSitesNote, EmptyTableIsValid) {
  auto notes = read_image_notes(image_with_notes(syscall_sites_note({})), "app");
  ASSERT_TRUE(notes.has_value());
  ASSERT_TRUE(notes->syscall_sites.has_value());
  EXPECT_TRUE(notes->syscall_sites->empty());
}

// ---------------------------------------------------------------- the service's fields

Manifest service() {
  Manifest manifest;
  manifest.abi = abi::kAbiVersion;
  manifest.volumes = {{"/data", false, true}, {"/cache", true, false}};
  manifest.publish = {"8080:80", "127.0.0.1:5353:53/udp"};
  manifest.allow_connect = {"db.internal:5432", "10.0.0.0/8:*"};
  manifest.cpus = 2;
  manifest.workdir = "/data";
  manifest.hostname = "web-1";
  manifest.files = {{"/etc/app.conf", "port=80\n"}, {"/etc/blob", std::string("\0\xff\x80 binary", 10)}};
  return manifest;
}

TEST(ManifestService, RoundTripsEveryField) {
  const Manifest written = service();
  auto read = read_image_notes(image_with_notes(manifest_note(written)), "app");
  ASSERT_TRUE(read.has_value()) << read.error().message;
  const Manifest& manifest = *read->manifest;
  ASSERT_EQ(manifest.volumes.size(), 2u);
  EXPECT_EQ(manifest.volumes[0].path, "/data");
  EXPECT_FALSE(manifest.volumes[0].read_only);
  EXPECT_TRUE(manifest.volumes[0].required);
  EXPECT_EQ(manifest.volumes[1].path, "/cache");
  EXPECT_TRUE(manifest.volumes[1].read_only);
  EXPECT_FALSE(manifest.volumes[1].required);
  EXPECT_EQ(manifest.publish, written.publish);
  EXPECT_EQ(manifest.allow_connect, written.allow_connect);
  EXPECT_EQ(manifest.cpus, 2u);
  EXPECT_EQ(manifest.workdir, "/data");
  EXPECT_EQ(manifest.hostname, "web-1");
  ASSERT_EQ(manifest.files.size(), 2u);
  EXPECT_EQ(manifest.files[0].path, "/etc/app.conf");
  EXPECT_EQ(manifest.files[0].content, "port=80\n");
  EXPECT_EQ(manifest.files[1].content, written.files[1].content);  // any bytes
}

TEST(ManifestService, DefaultsOfAVolumeEntry) {
  auto notes = notes_of(R"({"abi": 1, "volumes": [{"path": "/data"}]})");
  ASSERT_TRUE(notes.has_value()) << notes.error().message;
  EXPECT_FALSE(notes->manifest->volumes[0].read_only);
  EXPECT_TRUE(notes->manifest->volumes[0].required);
}

TEST(ManifestService, MalformedServiceFieldsAreRefused) {
  // Types and shapes.
  expect_refused(notes_of(R"({"abi": 1, "volumes": {"path": "/d"}})"), "\"volumes\" is not an array");
  expect_refused(notes_of(R"({"abi": 1, "volumes": ["/d"]})"), "\"volumes\" holds a non-object");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"mode": "ro"}]})"), "has no \"path\"");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/d", "mode": "rx"}]})"), "bad or unknown \"mode\"");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/d", "required": 1}]})"), "\"required\"");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/d", "host": "/etc"}]})"), "unknown \"host\"");
  expect_refused(notes_of(R"({"abi": 1, "publish": "80:80"})"), "\"publish\" is not an array");
  expect_refused(notes_of(R"({"abi": 1, "allow_connect": [5432]})"), "holds a non-string");
  expect_refused(notes_of(R"({"abi": 1, "cpus": 0})"), "\"cpus\" is not a number from 1 to 256");
  expect_refused(notes_of(R"({"abi": 1, "cpus": 257})"), "\"cpus\"");
  expect_refused(notes_of(R"({"abi": 1, "cpus": -1})"), "\"cpus\"");
  expect_refused(notes_of(R"({"abi": 1, "cpus": "2"})"), "\"cpus\"");
  expect_refused(notes_of(R"({"abi": 1, "workdir": 1})"), "\"workdir\" is not a string");
  expect_refused(notes_of(R"({"abi": 1, "files": [{"path": "/a"}]})"), "needs \"path\" and \"base64\"");
  expect_refused(notes_of(R"({"abi": 1, "files": [{"path": "/a", "base64": "!!!!"}]})"), "is not base64");
  expect_refused(notes_of(R"({"abi": 1, "files": [{"path": "/a", "base64": "YQ"}]})"), "is not base64");
  // Paths: absolute, normalised, not /, once.
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "data"}]})"), "volume 'data' is not absolute");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/data/../etc"}]})"), "is not normalised (write /etc)");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/data/"}]})"), "is not normalised");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "//data"}]})"), "is not normalised");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/"}]})"), "volume '/' is /");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/d"}, {"path": "/d"}]})"), "declared twice");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/d"}], "files": [{"path": "/d", "base64": ""}]})"),
                 "/d is declared twice");
  expect_refused(notes_of(R"({"abi": 1, "files": [{"path": "/etc/../x", "base64": ""}]})"), "is not normalised");
  expect_refused(notes_of("{\"abi\": 1, \"files\": [{\"path\": \"/a\\u0000b\", \"base64\": \"\"}]}"), "NUL");
  expect_refused(notes_of(R"({"abi": 1, "workdir": "rel"})"), "workdir 'rel' is not absolute");
  expect_refused(notes_of(R"({"abi": 1, "volumes": [{"path": "/)" + std::string(5000, 'a') + R"("}]})"), "is too long");
  // Rules and names.
  expect_refused(notes_of(R"({"abi": 1, "publish": ["80"]})"), "invalid --publish '80'");
  expect_refused(notes_of(R"({"abi": 1, "publish": ["8080:99999"]})"), "invalid --publish");
  expect_refused(notes_of(R"({"abi": 1, "allow_connect": ["db"]})"), "allow-connect rule 'db'");
  expect_refused(notes_of(R"({"abi": 1, "allow_connect": ["db:port"]})"), "PORT is not a number");
  expect_refused(notes_of(R"({"abi": 1, "allow_connect": ["db;rm:80"]})"), "characters");
  expect_refused(notes_of(R"({"abi": 1, "hostname": "bad_name!"})"), "hostname 'bad_name!'");
}

TEST(ManifestService, SizesAndCountsAreBounded) {
  Manifest manifest = service();
  manifest.files = {{"/big", std::string(kManifestMaxFileSize + 1, 'x')}};
  expect_refused(read_image_notes(image_with_notes(manifest_note(manifest)), "app"), "larger than 256 KiB");
  manifest.files.clear();
  for (int i = 0; i < 5; ++i)
    manifest.files.push_back({"/f" + std::to_string(i), std::string(kManifestMaxFileSize, 'x')});
  expect_refused(read_image_notes(image_with_notes(manifest_note(manifest)), "app"), "more than 1024 KiB together");
  manifest.files.clear();
  for (std::size_t i = 0; i <= kManifestMaxEntries; ++i) manifest.publish.push_back(fmt::format("{}:{}", 1000 + i, 80));
  expect_refused(read_image_notes(image_with_notes(manifest_note(manifest)), "app"), "at most 64");
  expect_refused(notes_of(R"({"abi": 1, "env": [")" + std::string(kManifestMaxJsonSize, 'a') + R"(=1"]})"),
                 "more than the 2 MiB");
}

TEST(ManifestService, ChangesSetAndUnsetByKey) {
  ManifestChanges changes;
  changes.set_volumes = {{"/cache", false, true}, {"/logs", false, false}};
  changes.unset_volumes = {"/data"};
  changes.add_publish = {"9090:90"};
  changes.unset_publish = {"8080:80"};
  changes.unset_allow_connect = {"10.0.0.0/8:*"};
  changes.set_files = {{"/etc/app.conf", "port=90\n"}};
  changes.unset_files = {"/etc/blob"};
  changes.cpus = std::optional<std::uint32_t>();
  changes.hostname = std::optional<std::string>("web-2");
  const Manifest result = apply_manifest_changes(service(), changes);
  ASSERT_EQ(result.volumes.size(), 2u);
  EXPECT_EQ(result.volumes[0].path, "/cache");  // replaced in place
  EXPECT_FALSE(result.volumes[0].read_only);
  EXPECT_EQ(result.volumes[1].path, "/logs");
  EXPECT_EQ(result.publish, (std::vector<std::string>{"127.0.0.1:5353:53/udp", "9090:90"}));
  EXPECT_EQ(result.allow_connect, (std::vector<std::string>{"db.internal:5432"}));
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(result.files[0].content, "port=90\n");
  EXPECT_FALSE(result.cpus.has_value());
  EXPECT_EQ(result.workdir, "/data");  // not told: kept
  EXPECT_EQ(result.hostname, "web-2");
  // Nothing told: the service stays as it was.
  const Manifest same = apply_manifest_changes(service(), ManifestChanges{});
  EXPECT_EQ(manifest_json(same), manifest_json(service()));
}

TEST(ManifestService, ManifestVolumeOption) {
  auto volume = parse_manifest_volume("/data");
  ASSERT_TRUE(volume.has_value());
  EXPECT_FALSE(volume->read_only);
  EXPECT_TRUE(volume->required);
  volume = parse_manifest_volume("/cache/./x:optional:ro");
  EXPECT_FALSE(volume.has_value());  // not normalised: said, not silently fixed
  volume = parse_manifest_volume("/cache:optional:ro");
  ASSERT_TRUE(volume.has_value());
  EXPECT_TRUE(volume->read_only);
  EXPECT_FALSE(volume->required);
  for (const char* text : {"", "data", "/", "/d:", "/d:rx", "/d:ro:rw", "/d:ro:optional:x", "/d::ro"}) {
    auto bad = parse_manifest_volume(text);
    ASSERT_FALSE(bad.has_value()) << text;
    EXPECT_NE(bad.error().message.find("invalid --volume"), std::string::npos) << bad.error().message;
  }
}

TEST(Base64, RoundTripsAndRefusesNonCanonicalText) {
  for (const std::string& bytes :
       {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("\0\xff\x10\x80", 4)}) {
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
  }
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
  for (const char* text : {"a", "aGVsbG8", "aGVsbG9=", "aG=sbG8=", "a===", "aGVs bG8=", "====", "aGVsbG8=aGVs"}) {
    EXPECT_FALSE(base64_decode(text).has_value()) << text;
  }
}

TEST(ManifestJson, OmitsWhatIsNotSet) {
  Manifest manifest;
  manifest.abi = 1;
  EXPECT_EQ(manifest_json(manifest), R"({"abi":1})");
  manifest.arguments = std::vector<std::string>{};
  EXPECT_EQ(manifest_json(manifest), R"({"abi":1,"args":[]})");
}

}  // namespace
}  // namespace hyperlet

namespace hyperlet {
namespace {

Manifest packaged() {
  Manifest manifest;
  manifest.memory_size = 64ull << 20;
  manifest.memory_text = "64M";
  manifest.environment = {"A=1", "B=2"};
  manifest.arguments = std::vector<std::string>{"--port", "80"};
  return manifest;
}

TEST(ManifestChanges, OnlyWhatIsToldChanges) {
  ManifestChanges changes;
  changes.memory_size = 96ull << 20;
  changes.memory_text = "96M";
  Manifest result = apply_manifest_changes(packaged(), changes);
  EXPECT_EQ(result.memory_text, "96M");
  EXPECT_FALSE(result.address_space.has_value());
  ManifestChanges address_space;
  address_space.address_space = 1ull << 30;
  address_space.address_space_text = "1G";
  result = apply_manifest_changes(result, address_space);
  EXPECT_EQ(result.address_space, 1ull << 30);
  EXPECT_EQ(result.address_space_text, "1G");
  EXPECT_EQ(result.memory_text, "96M");
  EXPECT_FALSE(sizes_problem(result).has_value());
  result.address_space = 64ull << 20;
  result.address_space_text = "64M";
  EXPECT_EQ(sizes_problem(result), "\"address_space\" 64M is less than \"memory\" 96M");
  EXPECT_EQ(result.environment, (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(result.arguments, (std::vector<std::string>{"--port", "80"}));
}

TEST(ManifestChanges, EnvReplacesItsKeyOrAddsUnsetRemoves) {
  ManifestChanges changes;
  changes.set_environment = {"A=9", "C=3"};
  changes.unset_environment = {"B"};
  const Manifest result = apply_manifest_changes(packaged(), changes);
  EXPECT_EQ(result.environment, (std::vector<std::string>{"A=9", "C=3"}));
  EXPECT_EQ(result.memory_text, "64M");
}

TEST(ManifestChanges, ArgsAreReplacedTogetherOrRemoved) {
  ManifestChanges changes;
  changes.arguments = std::vector<std::string>{"--port", "8080", "-v"};
  EXPECT_EQ(apply_manifest_changes(packaged(), changes).arguments, (std::vector<std::string>{"--port", "8080", "-v"}));
  changes.arguments = std::vector<std::string>{};
  EXPECT_FALSE(apply_manifest_changes(packaged(), changes).arguments.has_value());
}

TEST(ManifestChanges, ResetStartsEmptyAndNoManifestIsEmpty) {
  ManifestChanges changes;
  changes.start_empty = true;
  changes.set_environment = {"K=V"};
  const Manifest result = apply_manifest_changes(packaged(), changes);
  EXPECT_FALSE(result.memory_size.has_value());
  EXPECT_EQ(result.environment, (std::vector<std::string>{"K=V"}));
  EXPECT_FALSE(result.arguments.has_value());
  EXPECT_TRUE(apply_manifest_changes(std::nullopt, ManifestChanges{}).environment.empty());
}

}  // namespace
}  // namespace hyperlet
