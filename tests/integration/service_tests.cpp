// A service whose image's manifest describes it (programs/manifest_service.cpp: volumes
// /data required and /cache optional, a published port, a shipped config at
// /etc/service.conf, working directory /data, host name svc-1) runs with only
// its host directory on the command line; the command line still wins; a
// missing required volume is one line at start naming the option to give.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "process.h"

namespace hyperlet::testing {
namespace {

namespace fs = std::filesystem;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kService = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/manifest_service";

ProcessResult hyperlet(std::vector<std::string> args) {
  args.insert(args.begin(), kHyperlet);
  return run_process(args);
}

// A copy of the service image whose declared port is a free one: the build
// declares 127.0.0.1:18080:8080, which another test run may hold.
class Service : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
    fs::copy_file(kService, image_);
    port_ = free_port();
    const ProcessResult edited = hyperlet({"manifest", image_, "--unset-publish", "127.0.0.1:18080:8080", "--publish",
                                           "127.0.0.1:" + std::to_string(port_) + ":8080"});
    ASSERT_EQ(edited.status, 0) << describe(edited);
  }
  TempDir dir_;
  TempDir data_;
  const std::string image_ = dir_ / "manifest_service";
  int port_ = 0;
};

TEST_F(Service, RunsWithOnlyTheHostDirectoryOnTheCommandLine) {
  auto run = std::async(std::launch::async, [&] {
    return hyperlet({"run", "--timeout", "20s", "--volume", data_.path().string() + ":/data", image_});
  });
  const std::string response = http_get(port_, "/");
  const ProcessResult result = run.get();
  EXPECT_NE(response.find("HTTP/1.0 200 OK"), std::string::npos) << response;
  EXPECT_NE(response.find("greeting=hello from the image"), std::string::npos) << response;
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "config: greeting=hello from the image\n"
            "config write: EROFS\n"
            "config unlink: EBUSY\n"
            "cwd: /data\n"
            "hostname: svc-1\n"
            "cache: ENOENT\n"
            "log: written\n"
            "answered\n");
  EXPECT_EQ(read_file(data_ / "visits.log"), "served: greeting=hello from the image\n");
}

TEST_F(Service, TheCommandLineWins) {
  TempDir cache;
  std::ofstream(dir_ / "my.conf") << "greeting=from the command line\n";
  auto run = std::async(std::launch::async, [&] {
    return hyperlet({"run", "--timeout", "20s", "--volume", data_.path().string() + ":/data", "--volume",
                     cache.path().string() + ":/cache", "--volume", dir_ / "my.conf" + ":/etc/service.conf:ro",
                     "--hostname", "other", "--workdir", "/cache", image_});
  });
  const std::string response = http_get(port_, "/");
  const ProcessResult result = run.get();
  EXPECT_NE(response.find("greeting=from the command line"), std::string::npos) << response;
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("cwd: /cache\nhostname: other\ncache: present\n"), std::string::npos) << result.out;
  EXPECT_EQ(read_file(cache / "visits.log"), "served: greeting=from the command line\n");
}

TEST(ServiceStart, AMissingRequiredVolumeIsOneLineNamingTheOption) {
  const ProcessResult result = hyperlet({"run", kService});
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "hyperlet: cannot run " + kService +
                            ": its manifest requires a volume at /data: give --volume HOST_DIR:/data\n");
}

TEST(ServiceStart, InspectShowsTheService) {
  const ProcessResult result = hyperlet({"inspect", kService});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("               volumes /data:rw:required /cache:rw:optional\n"
                            "               publish 127.0.0.1:18080:8080\n"
                            "               allow-connect (none)\n"
                            "               cpus 1\n"
                            "               workdir /data\n"
                            "               hostname svc-1\n"
                            "               files /etc/service.conf (30 B)\n"),
            std::string::npos)
      << result.out;
}

}  // namespace
}  // namespace hyperlet::testing
