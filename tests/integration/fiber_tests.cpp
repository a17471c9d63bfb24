// Fibers in real microVMs: programs/fibers.cpp compared with its native run, and
// samples/fiber-echo (a fiber per connection) under many connections at once.
// Skips without /dev/kvm.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kPrograms = HYPERLET_TEST_PROGRAMS_DIR;
const std::string kFiberEcho = HYPERLET_FIBER_ECHO_SAMPLE;

class Fibers : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
  static void expect_same_as_native(const std::vector<std::string>& arguments, const std::string& memory = "256M") {
    std::vector<std::string> native = {kPrograms + "/fibers"};
    native.insert(native.end(), arguments.begin(), arguments.end());
    const ProcessResult expected = run_process(native);
    ASSERT_EQ(expected.status, 0) << describe(expected);
    ASSERT_EQ(expected.err, "");
    std::vector<std::string> in_vm = {kHyperlet, "run", "--timeout", "60s", "--memory", memory};
    in_vm.insert(in_vm.end(), native.begin(), native.end());
    ProcessOptions options;
    options.safety_timeout = std::chrono::seconds(90);
    const ProcessResult result = run_process(in_vm, options);
    ASSERT_EQ(result.status, 0) << describe(result);
    EXPECT_EQ(result.out, expected.out);
    EXPECT_EQ(result.err, "");
  }
};

TEST_F(Fibers, TenThousandFibersPassATokenAroundARing) { expect_same_as_native({"ring", "10000", "20"}, "512M"); }

TEST_F(Fibers, AFiberParksInReadWhileAnotherWritesThePipe) { expect_same_as_native({"pipe"}); }

TEST_F(Fibers, SleepingFibersWakeInDeadlineOrder) { expect_same_as_native({"sleep"}); }

int connect_to(int port) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
    close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

// 64 connections open at once, each echoed three messages, interleaved: every
// connection's own bytes come back, in order.
TEST_F(Fibers, FiberEchoServesManyConnectionsAtOnce) {
  constexpr int kConnections = 64;
  const int port = free_port();
  const std::string publish = std::to_string(port) + ":" + std::to_string(port);
  ProcessResult result;
  std::thread server([&] {
    result = run_process({kHyperlet, "run", "--publish", publish, kFiberEcho, "--port", std::to_string(port),
                          "--connections", std::to_string(kConnections)});
  });
  std::vector<int> connections;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0) << "connection " << i;
    connections.push_back(fd);
  }
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kConnections; ++i) {
      const std::string message = "c" + std::to_string(i) + "r" + std::to_string(round) + ";";
      ASSERT_EQ(write(connections[static_cast<std::size_t>(i)], message.data(), message.size()),
                static_cast<ssize_t>(message.size()));
    }
    for (int i = 0; i < kConnections; ++i) {
      const std::string expected = "c" + std::to_string(i) + "r" + std::to_string(round) + ";";
      std::string got;
      char buffer[256];
      while (got.size() < expected.size()) {
        const ssize_t n = read(connections[static_cast<std::size_t>(i)], buffer, sizeof buffer);
        ASSERT_GT(n, 0) << "connection " << i << " round " << round;
        got.append(buffer, static_cast<std::size_t>(n));
      }
      EXPECT_EQ(got, expected);
    }
  }
  for (int fd : connections) close(fd);
  server.join();
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("fiber-echo: 64 connections"), std::string::npos) << describe(result);
}

}  // namespace
}  // namespace hyperlet::testing
