// The kv-store sample: a TCP key-value store with an append-only log on a
// volume. Its keys survive SIGKILL of the whole microVM (hyperlet itself), the
// native run of the same binary answers the same and reads the same log, a
// torn last record is cut off, a read-only volume stops it at start with a
// clear message, and its log lock keeps a second store off the directory.
// Skips without /dev/kvm.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "process.h"

extern char** environ;

namespace hyperlet::testing {
namespace {

using namespace std::chrono_literals;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kKvStore = HYPERLET_KV_STORE_SAMPLE;

// A store running in the background (a microVM or native), its stdout and
// stderr in files; killed with SIGKILL, never asked to stop.
class Server {
 public:
  Server(const std::vector<std::string>& argv, const std::string& output_prefix)
      : out_path_(output_prefix + ".out"), err_path_(output_prefix + ".err") {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> arguments;
    for (const auto& argument : argv) arguments.push_back(const_cast<char*>(argument.c_str()));
    arguments.push_back(nullptr);
    if (::posix_spawn(&pid_, arguments[0], &actions, nullptr, arguments.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() { kill(); }

  bool started() const { return pid_ > 0; }

  // SIGKILL, then reap; returns the status as a shell reports it.
  int kill() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGKILL);
    int wait_status = 0;
    while (::waitpid(pid_, &wait_status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    status_ = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    return status_;
  }

  std::string output() const { return "stdout:\n" + read_file(out_path_) + "stderr:\n" + read_file(err_path_); }

 private:
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// A line-protocol client: sends lines, reads one answer line per command.
class Client {
 public:
  // Connects to 127.0.0.1:port, retrying while the store is still starting.
  explicit Client(int port) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<std::uint16_t>(port));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
        timeval wait{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
        return;
      }
      ::close(fd_);
      fd_ = -1;
      std::this_thread::sleep_for(20ms);
    }
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return fd_ >= 0; }

  // Sends all the commands at once (pipelined) and returns their answers, one
  // line each, joined with "\n"; stops early at EOF or a 10 s silence.
  std::string ask(const std::vector<std::string>& commands) {
    std::string request;
    for (const auto& command : commands) request += command + "\n";
    for (std::string_view left = request; !left.empty();) {
      const ssize_t sent = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
      if (sent <= 0) return "(send failed)";
      left.remove_prefix(static_cast<std::size_t>(sent));
    }
    std::size_t lines = 0;
    while (lines < commands.size()) {
      char buffer[4096];
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      for (ssize_t i = 0; i < got; ++i) lines += buffer[i] == '\n' ? 1 : 0;
      input_.append(buffer, static_cast<std::size_t>(got));
    }
    std::string answers = std::move(input_);
    input_.clear();
    if (answers.ends_with('\n')) answers.pop_back();
    return answers;
  }

  std::string ask(const std::string& command) { return ask(std::vector<std::string>{command}); }

 private:
  int fd_ = -1;
  std::string input_;
};

std::vector<std::string> in_microvm(const std::string& data, int port, bool read_only = false) {
  return {kHyperlet, "run", "--timeout", "90s", "--volume", data + ":/data" + (read_only ? ":ro" : ""),
          "--publish", "127.0.0.1:" + std::to_string(port) + ":" + std::to_string(port), kKvStore, "--port",
          std::to_string(port)};
}

std::vector<std::string> natively(const std::string& data, int port) {
  return {kKvStore, "--data", data, "--port", std::to_string(port)};
}

// A session touching every command and answer; the same text natively and in a microVM.
const std::vector<std::string> kSession = {
    "SET alpha 1",   "SET beta two words", "GET alpha",   "GET beta",       "GET gamma",
    "SET alpha 1b",  "DEL beta",           "DEL beta",    "GET beta",       "SET empty ",
    "GET empty",     "BOGUS x",            "GET",         "SET nospace",    "SET crlf yes\r",
    "GET crlf",      "GET alpha",
};
const std::string kSessionAnswers =
    "OK\nOK\nVALUE 1\nVALUE two words\nNOTFOUND\nOK\nOK\nNOTFOUND\nNOTFOUND\nOK\nVALUE \n"
    "ERROR usage: SET key value | GET key | DEL key\nERROR usage: SET key value | GET key | DEL key\n"
    "ERROR usage: SET key value | GET key | DEL key\nOK\nVALUE yes\nVALUE 1b";
// What the session leaves in the store.
const std::vector<std::string> kReadBack = {"GET alpha", "GET beta", "GET empty", "GET crlf", "GET gamma"};
const std::string kReadBackAnswers = "VALUE 1b\nNOTFOUND\nVALUE \nVALUE yes\nNOTFOUND";

class KvStore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = kvm_unusable_reason(); !reason.empty()) GTEST_SKIP() << reason;
  }
  TempDir data_;
  TempDir logs_;
};

TEST_F(KvStore, KeysSurviveSigkillOfTheMicroVm) {
  const int port = free_port();
  std::vector<std::string> many;
  for (int i = 0; i < 200; ++i) many.push_back("SET key" + std::to_string(i) + " value " + std::to_string(i * i));
  {
    Server server(in_microvm(data_.path().string(), port), logs_ / "first");
    ASSERT_TRUE(server.started());
    Client client(port);
    ASSERT_TRUE(client.connected()) << server.output();
    EXPECT_EQ(client.ask(kSession), kSessionAnswers) << server.output();
    // 200 changes pipelined: group-committed, each answered OK only once durable.
    std::string all_ok;
    for (std::size_t i = 0; i < many.size(); ++i) all_ok += i == 0 ? "OK" : "\nOK";
    EXPECT_EQ(client.ask(many), all_ok);
    EXPECT_EQ(server.kill(), 128 + SIGKILL);  // hyperlet itself, the whole VM, with the connection open
    EXPECT_NE(server.output().find("kv-store: 0 keys from /data/kv.log, serving on port"), std::string::npos)
        << server.output();
  }
  Server again(in_microvm(data_.path().string(), port), logs_ / "second");
  Client client(port);
  ASSERT_TRUE(client.connected()) << again.output();
  EXPECT_EQ(client.ask(kReadBack), kReadBackAnswers) << again.output();
  EXPECT_EQ(client.ask({"GET key0", "GET key199", "GET key200"}), "VALUE value 0\nVALUE value 39601\nNOTFOUND");
  EXPECT_NE(again.output().find("kv-store: 203 keys from /data/kv.log"), std::string::npos) << again.output();
  // The log is plain lines on the host, one per change.
  const std::string log = read_file(data_ / "kv.log");
  EXPECT_TRUE(log.starts_with("SET alpha 1\nSET beta two words\nSET alpha 1b\nDEL beta\nSET empty \nSET crlf yes\n"))
      << log.substr(0, 200);
  EXPECT_TRUE(log.ends_with("SET key199 value 39601\n"));
}

TEST_F(KvStore, NativeRunAnswersTheSameAndReadsTheSameLog) {
  TempDir native_data;
  const int port = free_port();
  std::string native_answers, native_read_back;
  {
    Server server(natively(native_data.path().string(), port), logs_ / "native");
    Client client(port);
    ASSERT_TRUE(client.connected()) << server.output();
    native_answers = client.ask(kSession);
  }
  {
    Server server(natively(native_data.path().string(), port), logs_ / "native-again");
    Client client(port);
    ASSERT_TRUE(client.connected()) << server.output();
    native_read_back = client.ask(kReadBack);
  }
  EXPECT_EQ(native_answers, kSessionAnswers);
  EXPECT_EQ(native_read_back, kReadBackAnswers);
  {
    Server server(in_microvm(data_.path().string(), port), logs_ / "vm");
    Client client(port);
    ASSERT_TRUE(client.connected()) << server.output();
    EXPECT_EQ(client.ask(kSession), native_answers) << server.output();
  }
  EXPECT_EQ(read_file(data_ / "kv.log"), read_file(native_data / "kv.log"));
  // The microVM reads the log the native run wrote.
  Server server(in_microvm(native_data.path().string(), port), logs_ / "vm-on-native");
  Client client(port);
  ASSERT_TRUE(client.connected()) << server.output();
  EXPECT_EQ(client.ask(kReadBack), native_read_back) << server.output();
}

TEST_F(KvStore, TornLastRecordIsCutOff) {
  std::ofstream(data_ / "kv.log") << "SET a 1\nSET b 2\nDEL a\nSET c 3";  // killed mid-write
  const int port = free_port();
  Server server(in_microvm(data_.path().string(), port), logs_ / "vm");
  Client client(port);
  ASSERT_TRUE(client.connected()) << server.output();
  EXPECT_EQ(client.ask({"GET a", "GET b", "GET c", "SET d 4"}), "NOTFOUND\nVALUE 2\nNOTFOUND\nOK");
  EXPECT_EQ(read_file(data_ / "kv.log"), "SET a 1\nSET b 2\nDEL a\nSET d 4\n");
  EXPECT_NE(server.output().find("kv-store: dropped a torn record of 7 bytes at the end of /data/kv.log"),
            std::string::npos)
      << server.output();
}

TEST_F(KvStore, CorruptLogRefusesToStart) {
  std::ofstream(data_ / "kv.log") << "SET a 1\nGARBAGE\n";
  const ProcessResult result = run_process(in_microvm(data_.path().string(), free_port()));
  EXPECT_EQ(result.status, 1) << describe(result);
  EXPECT_EQ(result.err, "kv-store: /data/kv.log:2: not a log record; refusing to start\n");
}

TEST_F(KvStore, ReadOnlyVolumeFailsToStartWithAClearMessage) {
  const int port = free_port();
  // Empty volume: the log cannot be created.
  const ProcessResult empty = run_process(in_microvm(data_.path().string(), port, true));
  EXPECT_EQ(empty.status, 1) << describe(empty);
  EXPECT_EQ(empty.err,
            "kv-store: cannot open /data/kv.log for writing: Read-only file system "
            "(the data directory must be writable)\n");
  EXPECT_FALSE(std::filesystem::exists(data_ / "kv.log"));
  // An existing log cannot be appended to; it is left as it was.
  std::ofstream(data_ / "kv.log") << "SET a 1\n";
  const ProcessResult existing = run_process(in_microvm(data_.path().string(), port, true));
  EXPECT_EQ(existing.status, 1) << describe(existing);
  EXPECT_EQ(existing.err, empty.err);
  EXPECT_EQ(read_file(data_ / "kv.log"), "SET a 1\n");
}

TEST_F(KvStore, SecondStoreOnTheSameDirectoryIsRefused) {
  const int port = free_port();
  Server server(in_microvm(data_.path().string(), port), logs_ / "vm");
  Client client(port);
  ASSERT_TRUE(client.connected()) << server.output();
  // The native store sees the microVM's lock on the host file.
  const ProcessResult second = run_process(natively(data_.path().string(), free_port()));
  EXPECT_EQ(second.status, 1) << describe(second);
  EXPECT_TRUE(second.err.starts_with("kv-store: " + (data_ / "kv.log") + " is in use by another kv-store"))
      << second.err;
  EXPECT_EQ(client.ask("SET still 1"), "OK");
}

}  // namespace
}  // namespace hyperlet::testing
