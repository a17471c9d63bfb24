// Images with a hyperlet manifest: `hyperlet manifest`, `hyperlet inspect`,
// the manifest's defaults under `run`, corrupted notes, and ready().
#include <elf.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>
#include <hyperlet/manifest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgramsDir = HYPERLET_TEST_PROGRAMS_DIR;
std::string program(const std::string& name) { return kProgramsDir + "/" + name; }

ProcessResult hyperlet(std::vector<std::string> args) {
  args.insert(args.begin(), kHyperlet);
  return run_process(args);
}

// A copy of a test program in a temporary directory, removed afterwards.
class ImageCopy {
 public:
  explicit ImageCopy(const std::string& source) {
    std::string pattern = (std::filesystem::temp_directory_path() / "hyperlet-image-XXXXXX").string();
    directory_ = ::mkdtemp(pattern.data());
    path_ = directory_ + "/" + std::filesystem::path(source).filename().string();
    std::filesystem::copy_file(source, path_);
  }
  ~ImageCopy() { std::filesystem::remove_all(directory_); }
  const std::string& path() const { return path_; }
  const std::string& directory() const { return directory_; }

 private:
  std::string directory_;
  std::string path_;
};

// Replaces the image's hyperlet notes with raw bytes, as a broken toolchain could.
void put_raw_note(const ImageCopy& image, const std::string& section, const std::vector<char>& bytes) {
  const std::string note_file = image.directory() + "/note.bin";
  std::ofstream(note_file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const auto result = run_process(
      {HYPERLET_OBJCOPY, "--remove-section=" + section, "--add-section", section + "=" + note_file, image.path()});
  ASSERT_EQ(result.status, 0) << describe(result);
}

std::vector<char> note(std::uint32_t type, const std::string& description, std::uint32_t announced) {
  std::vector<char> bytes(24 + ((description.size() + 3) & ~std::size_t{3}));
  const std::uint32_t header[3] = {9, announced, type};
  std::memcpy(bytes.data(), header, 12);
  std::memcpy(bytes.data() + 12, "hyperlet", 9);
  std::memcpy(bytes.data() + 24, description.data(), description.size());
  return bytes;
}

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
};

TEST_F(ImageTest, ManifestDefaultsApplyAndTheCommandLineOverrides) {
  ImageCopy image(program("print_env"));
  auto written = hyperlet({"manifest", image.path(), "--env", "GREETING=hi", "--env", "MODE=prod"});
  ASSERT_EQ(written.status, 0) << describe(written);
  EXPECT_EQ(written.out, "");
  auto defaults = hyperlet({"run", image.path()});
  EXPECT_EQ(defaults.status, 0) << describe(defaults);
  EXPECT_EQ(defaults.out, "GREETING=hi\nMODE=prod\nend of environment\n");
  auto overridden = hyperlet({"run", "--env", "MODE=debug", "--env", "EXTRA=1", image.path()});
  EXPECT_EQ(overridden.out, "GREETING=hi\nMODE=debug\nEXTRA=1\nend of environment\n") << describe(overridden);
}

TEST_F(ImageTest, ManifestArgumentsAreReplacedByArgumentsAfterApp) {
  ImageCopy image(program("print_args"));
  ASSERT_EQ(hyperlet({"manifest", image.path(), "--arg", "one", "--arg", "two words"}).status, 0);
  auto defaults = hyperlet({"run", image.path()});
  EXPECT_EQ(defaults.out, "argc=3\n[one]\n[two words]\n") << describe(defaults);
  auto replaced = hyperlet({"run", image.path(), "three"});
  EXPECT_EQ(replaced.out, "argc=2\n[three]\n") << describe(replaced);
  auto none = hyperlet({"run", image.path(), "--"});
  EXPECT_EQ(none.out, "argc=1\n") << describe(none);
}

TEST_F(ImageTest, ManifestMemoryIsTheDefaultAndCanBeOverridden) {
  ImageCopy image(program("ready"));
  ASSERT_EQ(hyperlet({"manifest", image.path(), "--memory", "64M"}).status, 0);
  EXPECT_NE(hyperlet({"run", image.path()}).out.find("memory=64M"), std::string::npos);
  EXPECT_NE(hyperlet({"run", "--memory", "32M", image.path()}).out.find("memory=32M"), std::string::npos);
}

TEST_F(ImageTest, RecordedSyscallSitesAreUsed) {
  ImageCopy image(program("print_args"));
  ASSERT_EQ(hyperlet({"manifest", image.path()}).status, 0);
  auto run = hyperlet({"run", "--stats", "--syscall-entry", "trap", image.path(), "x"});
  EXPECT_EQ(run.out, "argc=2\n[x]\n");
  EXPECT_NE(run.err.find("from the image's manifest"), std::string::npos) << describe(run);
}

TEST_F(ImageTest, AnnotatedImageStillRunsNatively) {
  ImageCopy image(program("print_args"));
  ASSERT_EQ(hyperlet({"manifest", image.path(), "--arg", "ignored-natively"}).status, 0);
  auto native = run_process({image.path(), "a"});
  EXPECT_EQ(native.status, 0);
  EXPECT_EQ(native.out, "argc=2\n[a]\n");
}

TEST_F(ImageTest, InspectTextShowsTheManifest) {
  ImageCopy image(program("print_args"));
  ASSERT_EQ(hyperlet({"manifest", image.path(), "--memory", "64M", "--env", "A=1", "--arg", "x"}).status, 0);
  auto report = hyperlet({"inspect", image.path()});
  EXPECT_EQ(report.status, 0) << describe(report);
  EXPECT_NE(report.out.find("format:        static x86-64 ELF\n"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("guest ABI:     1 (this hyperlet: 1)\n"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("manifest:      memory 64M\n               env A=1\n               args x\n"),
            std::string::npos)
      << report.out;
  EXPECT_NE(report.out.find(" recorded in the image\n"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("runs:          yes\n"), std::string::npos) << report.out;
}

TEST_F(ImageTest, InspectJsonOfAnAnnotatedImage) {
  ImageCopy image(program("print_args"));
  ASSERT_EQ(hyperlet({"manifest", image.path(), "--memory", "64M", "--env", "A=1"}).status, 0);
  auto report = hyperlet({"inspect", "--json", image.path()});
  ASSERT_EQ(report.status, 0) << describe(report);
  const auto json = nlohmann::json::parse(report.out);
  EXPECT_EQ(json["runnable"], true);
  EXPECT_TRUE(json["problem"].is_null());
  EXPECT_EQ(json["hyperlet_abi"], 1);
  EXPECT_EQ(json["elf"]["type"], "static");
  EXPECT_EQ(json["elf"]["machine"], "x86-64");
  EXPECT_GE(json["elf"]["segments"].size(), 2u);
  EXPECT_EQ(json["manifest"]["abi"], 1);
  EXPECT_EQ(json["manifest"]["memory"], 64ull << 20);
  EXPECT_EQ(json["manifest"]["env"], nlohmann::json::array({"A=1"}));
  EXPECT_TRUE(json["manifest"]["args"].is_null());
  EXPECT_EQ(json["memory"], 64ull << 20);
  EXPECT_GT(json["syscall_sites"].get<int>(), 10);
}

TEST_F(ImageTest, InspectPlainStaticBinaryWithoutManifest) {
  auto report = hyperlet({"inspect", program("print_args")});
  EXPECT_EQ(report.status, 0) << describe(report);
  EXPECT_NE(report.out.find("guest ABI:     not recorded (no hyperlet manifest: defaults apply)"), std::string::npos)
      << report.out;
  EXPECT_NE(report.out.find("memory:        256 MiB (default)"), std::string::npos) << report.out;
  auto json = nlohmann::json::parse(hyperlet({"inspect", "--json", program("print_args")}).out);
  EXPECT_TRUE(json["manifest"].is_null());
  EXPECT_TRUE(json["syscall_sites"].is_null());
  EXPECT_EQ(json["runnable"], true);
}

// Whether an image's I/O can skip the trap: linked with the guest library (the
// toolchain), a plain static binary, or unknown once the symbols are stripped.
TEST_F(ImageTest, InspectSaysWhetherIoSkipsTheTrap) {
  auto toolchain = hyperlet({"inspect", program("file_copy")});
  EXPECT_NE(toolchain.out.find("I/O paths:     socket buffers and file ring (guest library linked)"), std::string::npos)
      << toolchain.out;
  EXPECT_EQ(nlohmann::json::parse(hyperlet({"inspect", "--json", program("file_copy")}).out)["io_without_traps"], true);
  auto plain = hyperlet({"inspect", program("print_args")});
  EXPECT_NE(plain.out.find("I/O paths:     every I/O call is a trap and a VM exit"), std::string::npos) << plain.out;
  EXPECT_EQ(nlohmann::json::parse(hyperlet({"inspect", "--json", program("print_args")}).out)["io_without_traps"],
            false);
  ImageCopy stripped(program("file_copy"));
  ASSERT_EQ(run_process({HYPERLET_OBJCOPY, "--strip-all", stripped.path()}).status, 0);
  auto unknown = hyperlet({"inspect", stripped.path()});
  EXPECT_NE(unknown.out.find("I/O paths:     unknown (no symbol table)"), std::string::npos) << unknown.out;
  EXPECT_TRUE(
      nlohmann::json::parse(hyperlet({"inspect", "--json", stripped.path()}).out)["io_without_traps"].is_null());
}

TEST_F(ImageTest, InspectStaticPieShowsItsLoadAddress) {
  auto json = nlohmann::json::parse(hyperlet({"inspect", "--json", program("print_args_pie")}).out);
  EXPECT_EQ(json["elf"]["type"], "static-pie");
  EXPECT_EQ(json["elf"]["image_start"], 0x400000);
}

TEST_F(ImageTest, InspectDynamicElfSaysWhyItCannotRun) {
  auto report = hyperlet({"inspect", program("dynamic_hello")});
  EXPECT_EQ(report.status, 126);
  EXPECT_NE(report.out.find("runs:          no: "), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("link with -static"), std::string::npos) << report.out;
  auto json = nlohmann::json::parse(hyperlet({"inspect", "--json", program("dynamic_hello")}).out);
  EXPECT_EQ(json["runnable"], false);
  EXPECT_NE(json["problem"].get<std::string>().find("dynamically linked"), std::string::npos);
}

TEST_F(ImageTest, InspectMissingFile) {
  auto report = hyperlet({"inspect", "--json", "/nonexistent/app"});
  EXPECT_EQ(report.status, 127);
  EXPECT_EQ(nlohmann::json::parse(report.out)["runnable"], false);
}

struct CorruptNote {
  const char* name;
  std::string section;
  std::vector<char> bytes;
  const char* message;
};

class CorruptedManifest : public ImageTest, public ::testing::WithParamInterface<CorruptNote> {};

TEST_P(CorruptedManifest, IsRefusedByRunAndExplainedByInspect) {
  ImageCopy image(program("print_args"));
  put_raw_note(image, GetParam().section, GetParam().bytes);
  auto run = hyperlet({"run", image.path()});
  EXPECT_EQ(run.status, 126) << describe(run);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find(GetParam().message), std::string::npos) << describe(run);
  EXPECT_EQ(run.err.rfind("hyperlet: ", 0), 0u) << describe(run);
  auto report = hyperlet({"inspect", image.path()});
  EXPECT_EQ(report.status, 126);
  EXPECT_NE(report.out.find(GetParam().message), std::string::npos) << report.out;
}

std::string sites(std::uint32_t version, std::uint32_t count, std::vector<std::uint64_t> addresses) {
  std::string description(8 + addresses.size() * 8, '\0');
  const std::uint32_t header[2] = {version, count};
  std::memcpy(description.data(), header, 8);
  std::memcpy(description.data() + 8, addresses.data(), addresses.size() * 8);
  return description;
}

INSTANTIATE_TEST_SUITE_P(
    Notes, CorruptedManifest,
    ::testing::Values(
        CorruptNote{"Truncated", ".note.hyperlet.manifest", note(1, R"({"abi":1})", 500), "truncated"},
        CorruptNote{"NotJson", ".note.hyperlet.manifest", note(1, "abi=1", 5), "not valid JSON"},
        CorruptNote{"NewerAbi", ".note.hyperlet.manifest", note(1, R"({"abi":7})", 9), "guest ABI 7"},
        CorruptNote{"UnknownKey", ".note.hyperlet.manifest", note(1, R"({"abi":1,"gpu":true})", 20),
                    "unknown key \"gpu\""},
        // Exited 125 "invalid guest memory size" without naming the manifest.
        CorruptNote{"MemoryRunCannotUse", ".note.hyperlet.manifest", note(1, R"({"abi":1,"memory":"3M"})", 23),
                    "its hyperlet manifest is malformed: \"memory\" 3M: must be a multiple of 2M"},
        CorruptNote{"UnknownNoteType", ".note.hyperlet.manifest", note(9, "{}", 2), "unknown type 9"},
        CorruptNote{"WrongSiteCount", ".note.hyperlet.sites",
                    note(2, sites(manifest::kSitesVersion, 5, {0x401000}), 16), "5 sites need 48 bytes"},
        CorruptNote{"SitesVersion", ".note.hyperlet.sites", note(2, sites(3, 0, {}), 8), "unknown version 3"},
        CorruptNote{"SiteNotInCode", ".note.hyperlet.sites", note(2, sites(manifest::kSitesVersion, 1, {0x400000}), 16),
                    "not one in the code"},
        // A site whose end wraps past 2^64 once passed the range check and was
        // read far outside the image (a SIGSEGV of run and inspect).
        CorruptNote{"SiteWrapsAround", ".note.hyperlet.sites",
                    note(2, sites(manifest::kSitesVersion, 1, {0xffffffffffffffffull}), 16), "not one in the code"},
        CorruptNote{"SiteJustBelowTheTop", ".note.hyperlet.sites",
                    note(2, sites(manifest::kSitesVersion, 1, {0xfffffffffffffffeull}), 16), "not one in the code"}),
    [](const auto& test) { return std::string(test.param.name); });

// A recorded site inside the code that is not a `syscall` (here: the entry point)
// is refused by run when it loads the code, and by inspect, never rewritten —
// with either syscall entry (on hardware KVM, where auto picks `syscall` and no
// site is rewritten, run used to start the app anyway while inspect said 126).
TEST_F(ImageTest, RecordedSiteThatIsNotASyscallIsRefused) {
  ImageCopy image(program("print_args"));
  Elf64_Ehdr header{};
  std::ifstream(image.path(), std::ios::binary).read(reinterpret_cast<char*>(&header), sizeof header);
  put_raw_note(image, ".note.hyperlet.sites", note(2, sites(manifest::kSitesVersion, 1, {header.e_entry}), 16));
  char entry[32];
  std::snprintf(entry, sizeof entry, "%#llx", static_cast<unsigned long long>(header.e_entry));
  const std::string message = std::string("lists a syscall at ") + entry + " that is not one in the code";
  for (const std::string syscall_entry : {"syscall", "trap"}) {
    auto run = hyperlet({"run", "--syscall-entry", syscall_entry, image.path()});
    EXPECT_EQ(run.status, 126) << syscall_entry << ": " << describe(run);
    EXPECT_EQ(run.out, "");
    EXPECT_NE(run.err.find(message), std::string::npos) << describe(run);
  }
  auto report = hyperlet({"inspect", image.path()});
  EXPECT_EQ(report.status, 126);
  EXPECT_NE(report.out.find(message), std::string::npos) << report.out;
}

// A version-1 table came from the linear sweep, which took data for code: it is
// ignored (even one listing the entry point), and the loader analyses the code.
TEST_F(ImageTest, LinearSweepSiteTablesAreIgnored) {
  ImageCopy image(program("print_args"));
  Elf64_Ehdr header{};
  std::ifstream(image.path(), std::ios::binary).read(reinterpret_cast<char*>(&header), sizeof header);
  put_raw_note(image, ".note.hyperlet.sites",
               note(2, sites(manifest::kSitesVersionLinearSweep, 1, {header.e_entry}), 16));
  auto run = hyperlet({"run", "--stats", "--syscall-entry", "trap", image.path()});
  EXPECT_EQ(run.status, 0) << describe(run);
  EXPECT_EQ(run.err.find("from the image's manifest"), std::string::npos) << run.err;
}

TEST_F(ImageTest, ReadyIsRecordedAndExitOnReadyStopsThere) {
  auto run = hyperlet({"run", "--stats", program("ready")});
  EXPECT_EQ(run.status, 0) << describe(run);
  EXPECT_NE(run.out.find("ready=0 in_vm=1\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("abi=1 memory=256M ordered=1\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("after ready\n"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("    ready "), std::string::npos) << run.err;

  auto stopped = hyperlet({"run", "--exit-on-ready", program("ready")});
  EXPECT_EQ(stopped.status, 0) << describe(stopped);
  EXPECT_EQ(stopped.out.find("after ready"), std::string::npos) << stopped.out;
}

TEST_F(ImageTest, ReadyAndGuestInfoAreHarmlessNatively) {
  auto native = run_process({program("ready")});
  EXPECT_EQ(native.status, 0);
  EXPECT_EQ(native.out, "ready=-1 in_vm=0\nafter ready\n");
}

TEST_F(ImageTest, ExitOnReadyWithoutReadyRunsToTheEnd) {
  auto run = hyperlet({"run", "--exit-on-ready", program("print_args"), "z"});
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.out, "argc=2\n[z]\n");
}

TEST_F(ImageTest, ManifestRefusesBadOptionsAndFiles) {
  EXPECT_EQ(hyperlet({"manifest", "/nonexistent/app"}).status, 127);
  EXPECT_EQ(hyperlet({"manifest", program("dynamic_hello")}).status, 126);
  ImageCopy image(program("print_args"));
  auto bad_env = hyperlet({"manifest", image.path(), "--env", "NOEQUALS"});
  EXPECT_EQ(bad_env.status, 125);
  EXPECT_NE(bad_env.err.find("expected KEY=VALUE"), std::string::npos);
  EXPECT_EQ(hyperlet({"manifest", image.path(), "--memory", "lots"}).status, 125);
  // A size run would refuse is refused when it is written, not at every run.
  auto odd_memory = hyperlet({"manifest", image.path(), "--memory", "3M"});
  EXPECT_EQ(odd_memory.status, 125) << describe(odd_memory);
  EXPECT_NE(odd_memory.err.find("invalid --memory '3M': must be a multiple of 2M"), std::string::npos)
      << describe(odd_memory);
}

// Arguments written into the manifest that leave no stack to run on: inspect
// said "runs: yes", run then failed with "bad command line" (125).
TEST_F(ImageTest, ManifestArgumentsThatDoNotFitTheStackAreTheImagesFault) {
  ImageCopy image(program("print_args"));
  const std::string json = R"({"abi":1,"memory":"8M","args":[")" + std::string(600 * 1024, 'a') + R"("]})";
  put_raw_note(image, ".note.hyperlet.manifest", note(1, json, static_cast<std::uint32_t>(json.size())));
  auto report = hyperlet({"inspect", image.path()});
  EXPECT_EQ(report.status, 126) << report.out;
  EXPECT_NE(report.out.find("runs:          no: its manifest's arguments and environment do not fit on the "
                            "app's stack (512 KiB at 8M)"),
            std::string::npos)
      << report.out;
  auto run = hyperlet({"run", image.path()});
  EXPECT_EQ(run.status, 126) << describe(run);
  EXPECT_NE(run.err.find("its manifest's arguments and environment do not fit"), std::string::npos) << describe(run);
  // Arguments on the command line replace the manifest's: then it runs.
  run = hyperlet({"run", image.path(), "short"});
  EXPECT_EQ(run.status, 0) << describe(run);
  EXPECT_EQ(run.out, "argc=2\n[short]\n");
}

// ---------------------------------------------------------------- the service's fields

TEST_F(ImageTest, ManifestSetsAndUnsetsEachServiceField) {
  ImageCopy image(program("print_args"));
  const std::string config = image.directory() + "/app.conf";
  std::ofstream(config) << "port=80\n";
  ASSERT_EQ(hyperlet({"manifest", image.path(), "--memory", "64M"}).status, 0);
  auto set = hyperlet({"manifest", image.path(), "--volume", "/data:ro:optional", "--volume", "/logs", "--publish",
                       "8080:80", "--allow-connect", "db.internal:5432", "--file", config + ":/etc/app.conf", "--cpus",
                       "2", "--workdir", "/data", "--hostname", "web-1"});
  ASSERT_EQ(set.status, 0) << describe(set);
  auto json = nlohmann::json::parse(hyperlet({"inspect", "--json", image.path()}).out)["manifest"];
  EXPECT_EQ(json["memory"], 64ull << 20);  // untouched
  EXPECT_EQ(json["volumes"], nlohmann::json::parse(R"([{"path":"/data","mode":"ro","required":false},
                                                       {"path":"/logs","mode":"rw","required":true}])"));
  EXPECT_EQ(json["publish"], nlohmann::json::array({"8080:80"}));
  EXPECT_EQ(json["allow_connect"], nlohmann::json::array({"db.internal:5432"}));
  EXPECT_EQ(json["files"], nlohmann::json::parse(R"([{"path":"/etc/app.conf","size":8}])"));
  EXPECT_EQ(json["cpus"], 2);
  EXPECT_EQ(json["workdir"], "/data");
  EXPECT_EQ(json["hostname"], "web-1");
  auto unset = hyperlet({"manifest", image.path(), "--unset-volume", "/data", "--unset-publish", "8080:80",
                         "--unset-file", "/etc/app.conf", "--unset-cpus", "--unset-workdir", "--hostname", "web-2"});
  ASSERT_EQ(unset.status, 0) << describe(unset);
  json = nlohmann::json::parse(hyperlet({"inspect", "--json", image.path()}).out)["manifest"];
  EXPECT_EQ(json["memory"], 64ull << 20);
  EXPECT_EQ(json["volumes"], nlohmann::json::parse(R"([{"path":"/logs","mode":"rw","required":true}])"));
  EXPECT_EQ(json["publish"], nlohmann::json::array());
  EXPECT_EQ(json["allow_connect"], nlohmann::json::array({"db.internal:5432"}));
  EXPECT_EQ(json["files"], nlohmann::json::array());
  EXPECT_TRUE(json["cpus"].is_null());
  EXPECT_TRUE(json["workdir"].is_null());
  EXPECT_EQ(json["hostname"], "web-2");
}

TEST_F(ImageTest, BadServiceOptionsOfManifestAreOneLineAndChangeNothing) {
  ImageCopy image(program("print_args"));
  ASSERT_EQ(hyperlet({"manifest", image.path(), "--cpus", "3"}).status, 0);
  const std::string before = read_file(image.path());
  const std::string big = image.directory() + "/big";
  std::ofstream(big) << std::string((256 << 10) + 1, 'x');
  for (const std::vector<std::string>& options :
       std::vector<std::vector<std::string>>{{"--volume", "data"},
                                             {"--volume", "/data:rx"},
                                             {"--volume", "/data/../etc"},
                                             {"--volume", "/"},
                                             {"--cpus", "0"},
                                             {"--cpus", "many"},
                                             {"--cpus", "2", "--unset-cpus"},
                                             {"--workdir", "rel"},
                                             {"--hostname", "bad_name!"},
                                             {"--publish", "80"},
                                             {"--allow-connect", "db"},
                                             {"--file", "/nonexistent/hyperlet:/etc/x"},
                                             {"--file", big + ":/etc/big"},
                                             {"--file", big + ":etc"},
                                             {"--volume", "/etc/x", "--file", big + ":/etc/x"}}) {
    std::vector<std::string> args = {"manifest", image.path()};
    args.insert(args.end(), options.begin(), options.end());
    const auto result = hyperlet(args);
    EXPECT_EQ(result.status, 125) << options.front() << " " << options[1] << "\n" << describe(result);
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
  EXPECT_EQ(read_file(image.path()), before);
}

TEST_F(ImageTest, HostileServiceManifestsAreRefusedWithOneLine) {
  ImageCopy image(program("print_args"));
  for (const std::string& json : {
           std::string(R"({"abi":1,"volumes":[{"path":"/data/../../etc"}]})"),
           std::string(R"({"abi":1,"volumes":[{"path":"/data","host":"/etc"}]})"),
           std::string(R"({"abi":1,"files":[{"path":"/etc/passwd","base64":"not base64!"}]})"),
           std::string(R"({"abi":1,"files":[{"path":"relative","base64":""}]})"),
           std::string(R"({"abi":1,"cpus":100000})"),
           std::string(R"({"abi":1,"publish":["0.0.0.0:22:22:tcp"]})"),
       }) {
    put_raw_note(image, ".note.hyperlet.manifest", note(1, json, static_cast<std::uint32_t>(json.size())));
    const auto run = hyperlet({"run", image.path()});
    EXPECT_EQ(run.status, 126) << json << "\n" << describe(run);
    EXPECT_NE(run.err.find("its hyperlet manifest is malformed: "), std::string::npos) << describe(run);
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    EXPECT_EQ(hyperlet({"inspect", image.path()}).status, 126) << json;
  }
}

}  // namespace
}  // namespace hyperlet::testing
