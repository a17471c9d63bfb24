// `hyperlet pack`'s mapping of an image's manifest to the OCI image config,
// manifest and index, and the layout's deterministic bytes. No KVM, no files.
#include "oci/image_config.h"

#include <gtest/gtest.h>

#include "oci/image_layout.h"

namespace hyperlet::oci {
namespace {

Manifest sample_manifest() {
  Manifest manifest;
  manifest.abi = 3;
  manifest.memory_size = 64ull << 20;
  manifest.memory_text = "64M";
  manifest.address_space = 2ull << 30;
  manifest.address_space_text = "2G";
  manifest.environment = {"GREETING=hi", "MODE=fast"};
  manifest.arguments = std::vector<std::string>{"--port", "8080"};
  return manifest;
}

TEST(ImageConfig, ManifestBecomesEntrypointCmdEnvAndLabels) {
  const Manifest manifest = sample_manifest();
  PackOptions options;
  options.entrypoint = "/server";
  options.exposed_ports = {"8080/tcp", "53/udp"};
  options.workdir = "/data";
  options.volumes = {"/data"};
  const auto config = image_config(&manifest, options, "sha256:abc");
  EXPECT_EQ(config["architecture"], "amd64");
  EXPECT_EQ(config["os"], "linux");
  EXPECT_EQ(config["created"], "1970-01-01T00:00:00Z");
  EXPECT_EQ(config["config"]["Entrypoint"], nlohmann::json::array({"/server"}));
  EXPECT_EQ(config["config"]["Cmd"], nlohmann::json::array({"--port", "8080"}));
  EXPECT_EQ(config["config"]["Env"], nlohmann::json::array({"GREETING=hi", "MODE=fast"}));
  EXPECT_TRUE(config["config"]["ExposedPorts"].contains("8080/tcp"));
  EXPECT_TRUE(config["config"]["ExposedPorts"].contains("53/udp"));
  EXPECT_EQ(config["config"]["WorkingDir"], "/data");
  EXPECT_TRUE(config["config"]["Volumes"].contains("/data"));
  EXPECT_EQ(config["config"]["StopSignal"], "SIGTERM");
  EXPECT_EQ(config["config"]["Labels"]["hyperlet.dev/memory"], "64M");
  EXPECT_EQ(config["config"]["Labels"]["hyperlet.dev/address-space"], "2G");
  EXPECT_EQ(config["config"]["Labels"]["hyperlet.dev/abi"], "3");
  EXPECT_EQ(config["config"]["Labels"]["hyperlet.dev/publish"], "8080:8080/tcp,53:53/udp");
  EXPECT_EQ(config["rootfs"]["diff_ids"], nlohmann::json::array({"sha256:abc"}));
}

TEST(ImageConfig, TheManifestsServiceFieldsAreTheImagesToo) {
  Manifest manifest = sample_manifest();
  manifest.publish = {"127.0.0.1:18080:8080", "5353:53/udp", "9090:8080"};
  manifest.volumes = {{"/data", false, true}, {"/cache", true, false}};
  manifest.workdir = "/data";
  PackOptions options;
  options.entrypoint = "/server";
  options.exposed_ports = {"8080/tcp", "9100/tcp"};
  options.volumes = {"/logs", "/data"};
  const auto config = image_config(&manifest, options, "sha256:abc")["config"];
  // The ports the app binds (the guest side), each once; --port's first.
  EXPECT_EQ(config["ExposedPorts"], nlohmann::json::parse(R"({"8080/tcp": {}, "9100/tcp": {}, "53/udp": {}})"));
  EXPECT_EQ(config["Volumes"], nlohmann::json::parse(R"({"/logs": {}, "/data": {}, "/cache": {}})"));
  EXPECT_EQ(config["WorkingDir"], "/data");
  EXPECT_EQ(config["Labels"]["hyperlet.dev/publish"], "8080:8080/tcp,9100:9100/tcp,53:53/udp");
  // --workdir wins over the manifest's.
  options.workdir = "/logs";
  EXPECT_EQ(image_config(&manifest, options, "sha256:abc")["config"]["WorkingDir"], "/logs");
}

TEST(ImageConfig, WithoutManifestOnlyTheEntrypoint) {
  PackOptions options;
  options.entrypoint = "/hello";
  const auto config = image_config(nullptr, options, "sha256:abc");
  EXPECT_EQ(config["config"]["Entrypoint"], nlohmann::json::array({"/hello"}));
  EXPECT_FALSE(config["config"].contains("Cmd"));
  EXPECT_FALSE(config["config"].contains("Env"));
  EXPECT_FALSE(config["config"].contains("Labels"));
  EXPECT_FALSE(config["config"].contains("WorkingDir"));
}

TEST(ImageConfig, ManifestAndIndexPointAtTheirBlobs) {
  const Blob config{"application/vnd.oci.image.config.v1+json", "sha256:c", 10};
  const Blob layer{"application/vnd.oci.image.layer.v1.tar+gzip", "sha256:l", 20};
  const auto manifest = image_manifest(config, layer, {{"hyperlet.dev/memory", "64M"}});
  EXPECT_EQ(manifest["schemaVersion"], 2);
  EXPECT_EQ(manifest["config"]["digest"], "sha256:c");
  EXPECT_EQ(manifest["layers"][0]["size"], 20);
  EXPECT_EQ(manifest["annotations"]["hyperlet.dev/memory"], "64M");
  const auto index =
      image_index({"application/vnd.oci.image.manifest.v1+json", "sha256:m", 30}, "localhost/hello:latest");
  EXPECT_EQ(index["manifests"][0]["digest"], "sha256:m");
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "localhost/hello:latest");
  EXPECT_EQ(index["manifests"][0]["annotations"]["io.containerd.image.name"], "localhost/hello:latest");
}

TEST(ImageConfig, Ports) {
  EXPECT_EQ(normalize_port("8080").value(), "8080/tcp");
  EXPECT_EQ(normalize_port("53/udp").value(), "53/udp");
  EXPECT_FALSE(normalize_port("0"));
  EXPECT_FALSE(normalize_port("70000"));
  EXPECT_FALSE(normalize_port("http"));
  EXPECT_FALSE(normalize_port("80/sctp"));
  EXPECT_NE(normalize_port("80/sctp").error().message.find("tcp or udp"), std::string::npos);
}

TEST(ImageConfig, References) {
  EXPECT_EQ(normalize_reference("hello"), "localhost/hello:latest");
  EXPECT_EQ(normalize_reference("hello:1.0"), "localhost/hello:1.0");
  EXPECT_EQ(normalize_reference("quay.io/me/hello"), "quay.io/me/hello:latest");
  EXPECT_EQ(normalize_reference("localhost:5000/hello:2"), "localhost:5000/hello:2");
  EXPECT_EQ(normalize_reference("me/hello"), "localhost/me/hello:latest");
}

TEST(ImageLayout, Sha256) {
  EXPECT_EQ(digest_of("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ImageLayout, LayerAndGzipAreDeterministic) {
  const std::vector<LayerFile> files = {{"bin/app", std::string(5000, 'x'), 0755}};
  auto first = layer_tar(files);
  auto second = layer_tar(files);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*first, *second);
  // ustar: the directory comes first, then the file, names at offset 0 of each 512-byte header.
  EXPECT_EQ(first->substr(0, 4), "bin/");
  EXPECT_EQ(first->substr(512, 7), "bin/app");
  auto zipped = gzip(*first);
  ASSERT_TRUE(zipped);
  EXPECT_EQ(*zipped, *gzip(*first));
  ASSERT_GT(zipped->size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>((*zipped)[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>((*zipped)[1]), 0x8b);
  EXPECT_EQ(zipped->substr(4, 4), std::string(4, '\0'));  // no modification time
}

}  // namespace
}  // namespace hyperlet::oci
