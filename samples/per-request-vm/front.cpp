// per-request-vm: an HTTP front end that serves every request in a freshly
// reset microVM of a small C++ handler (handler.cpp), through the embedding
// API (include/hyperlet/host.h). A request can never see the previous one's
// memory: after each request the VM is reset to the snapshot taken at the
// handler's hyperlet::ready(). At the end (or on SIGINT/SIGTERM) it prints
// its requests/s and the latency of each step.
//
//   per-request-vm [--port 8090] [--pool 2] [--requests N] [--handler PATH | --snapshot FILE]
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <hyperlet/host.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
void on_stop(int) { g_stop = true; }

double micros(Clock::duration duration) { return std::chrono::duration<double, std::micro>(duration).count(); }

struct Distribution {
  std::vector<double> values;
  void add(double value) { values.push_back(value); }
  double at(double quantile) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[static_cast<std::size_t>(quantile * static_cast<double>(values.size() - 1))];
  }
  std::string line() {
    return fmt::format("median {:.0f} µs, p90 {:.0f} µs, p99 {:.0f} µs, min {:.0f} µs", at(0.5), at(0.9), at(0.99),
                       at(0.0));
  }
};

int listen_on(int port) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 128) != 0) {
    std::perror("per-request-vm: cannot listen on 127.0.0.1");
    std::exit(1);
  }
  return listener;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Serve every HTTP request in a freshly reset hyperlet microVM of a small C++ handler."};
  int port = 8090;
  std::size_t pool_size = 2;
  std::size_t request_limit = 0;
  std::string handler = (std::filesystem::path(argv[0]).parent_path() / "per-request-vm-handler").string();
  std::string snapshot_path;
  app.add_option("--port", port, "TCP port on 127.0.0.1 to serve")->capture_default_str();
  app.add_option("--pool", pool_size, "VMs kept reset and ready")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--requests", request_limit, "Exit after this many requests (0: run until SIGINT/SIGTERM)")
      ->capture_default_str();
  app.add_option("--handler", handler, "The handler image; its snapshot is taken at start (at its ready())")
      ->capture_default_str();
  app.add_option("--snapshot", snapshot_path, "Use this snapshot (`hyperlet snapshot -o FILE HANDLER`) instead");
  CLI11_PARSE(app, argc, argv);

  const Clock::time_point started = Clock::now();
  hyperlet::Result<hyperlet::Snapshot> snapshot = std::unexpected(hyperlet::Error{});
  std::string temporary;
  if (!snapshot_path.empty()) {
    snapshot = hyperlet::Snapshot::open(snapshot_path);
  } else {
    temporary = fmt::format("{}/per-request-vm.{}.snap", std::filesystem::temp_directory_path().string(), ::getpid());
    snapshot = hyperlet::Snapshot::take(handler, {}, temporary);
    // The open Snapshot keeps its pages; the file's name is not needed any more.
    if (snapshot) std::filesystem::remove(temporary);
  }
  if (!snapshot) {
    fmt::print(stderr, "per-request-vm: {}\n", snapshot.error().message);
    return 1;
  }

  // Each VM's stdin and stdout is one fd number of this process (its slot);
  // for a request, dup2 points the slot at the connection. So each VM comes
  // from its own pool of one (VmOptions are per pool).
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  std::vector<int> slots;
  std::vector<std::unique_ptr<hyperlet::VmPool>> pools;
  for (std::size_t i = 0; i < pool_size; ++i) {
    slots.push_back(::fcntl(null_fd, F_DUPFD_CLOEXEC, 100));
    hyperlet::VmOptions options;
    options.console_fds = {slots.back(), slots.back(), 2};
    auto one = hyperlet::VmPool::create(*snapshot, options, 1);
    if (!one) {
      fmt::print(stderr, "per-request-vm: {}\n", one.error().message);
      return 1;
    }
    pools.push_back(std::move(*one));
  }
  const double ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();

  struct sigaction action {};
  action.sa_handler = on_stop;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  const int listener = listen_on(port);
  fmt::print(
      "per-request-vm: serving http://127.0.0.1:{}/ from {} reset VMs of a {}-page snapshot (ready in {:.1f} ms)\n",
      port, pools.size(), snapshot->page_count(), ready_ms);
  std::fflush(stdout);

  Distribution request_latency, run_latency, reset_latency, reset_pages;
  std::size_t served = 0, failed = 0, next_pool = 0;
  const Clock::time_point serving = Clock::now();
  while (!g_stop && (request_limit == 0 || served + failed < request_limit)) {
    // The stop signal may land on any thread of the process, so accept never
    // blocks for long without a look at g_stop.
    pollfd waiting{listener, POLLIN, 0};
    if (::poll(&waiting, 1, 100) <= 0) continue;
    const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const Clock::time_point accepted = Clock::now();
    hyperlet::VmPool& vm_pool = *pools[next_pool];
    const int slot = slots[next_pool];
    next_pool = (next_pool + 1) % pools.size();
    auto lease = vm_pool.acquire();
    if (!lease) {
      fmt::print(stderr, "per-request-vm: {}\n", lease.error().message);
      ::close(client);
      ++failed;
      continue;
    }
    hyperlet::Vm& vm = lease->vm();
    ::dup2(client, slot);
    const Clock::time_point run_start = Clock::now();
    auto status = vm.run();
    const Clock::time_point run_end = Clock::now();
    ::dup2(null_fd, slot);
    ::close(client);  // the response is complete: the handler exited
    const Clock::time_point responded = Clock::now();
    if (!status || *status != 0) {
      fmt::print(stderr, "per-request-vm: a request's VM ended with {}\n",
                 status ? fmt::format("status {}", *status) : status.error().message);
      ++failed;
    } else {
      ++served;
    }
    if (auto reset = lease->release(); !reset) {
      fmt::print(stderr, "per-request-vm: reset failed: {}\n", reset.error().message);
      return 1;
    }
    const Clock::time_point reset_done = Clock::now();
    request_latency.add(micros(responded - accepted));
    run_latency.add(micros(run_end - run_start));
    reset_latency.add(micros(reset_done - responded));
    reset_pages.add(static_cast<double>(vm.stats().reset_pages));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - serving).count();
  fmt::print("per-request-vm: {} requests ({} failed) in {:.2f} s: {:.0f} requests/s\n", served + failed, failed,
             seconds, static_cast<double>(served + failed) / seconds);
  fmt::print("  accept to response sent: {}\n", request_latency.line());
  fmt::print("  VM run (restored state to exit): {}\n", run_latency.line());
  fmt::print("  reset to the snapshot: {}\n", reset_latency.line());
  fmt::print("  pages reset per request: median {:.0f}\n", reset_pages.at(0.5));
  return failed == 0 ? 0 : 1;
}
