// Threads that block in host calls (read, poll, epoll_wait, nanosleep, accept)
// while others run, one section per argv[1]; the output must be the same in a
// microVM as natively. Before blocking calls were parked, one thread's wait
// stopped every thread: these hung, or ran ten times slower.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Work that takes tens of milliseconds without a syscall.
unsigned long compute(unsigned long rounds) {
  volatile unsigned long sum = 0;
  for (unsigned long i = 0; i < rounds; ++i) sum = sum + i * i;
  return sum;
}

// The main thread waits in read on a pipe that a second thread feeds after
// computing: the computing thread must run while the reader waits.
int read_pipe_fed_by_thread() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  std::thread feeder([&] {
    compute(20'000'000);
    std::printf("feeder computed\n");
    std::fflush(stdout);
    const char message[] = "fed";
    if (write(fds[1], message, 3) != 3) std::exit(1);
  });
  char buffer[8] = {};
  const ssize_t got = read(fds[0], buffer, sizeof buffer - 1);
  std::printf("reader got %zd bytes: %s\n", got, buffer);
  feeder.join();
  return 0;
}

// A thread sleeping 5 x 100 ms beside a thread computing: the computing thread
// must get (most of) the CPU meanwhile. Its progress is compared with how much
// it computes alone in 100 ms, so the verdict holds on a slow machine too.
// (When one thread's sleep held the vCPU, it got ~10%.)
int compute_beside_sleeper() {
  using Clock = std::chrono::steady_clock;
  auto chunks_until = [](const std::atomic<bool>& stop) {
    long chunks = 0;
    while (!stop.load()) {
      compute(20'000);
      ++chunks;
    }
    return chunks;
  };
  long alone = 0;
  for (const auto start = Clock::now(); Clock::now() - start < 100ms; ++alone) compute(20'000);
  std::atomic<bool> stop{false};
  long beside = 0;
  std::thread computer([&] { beside = chunks_until(stop); });
  std::thread sleeper([&] {
    for (int i = 0; i < 5; ++i) std::this_thread::sleep_for(100ms);
    stop.store(true);
  });
  sleeper.join();
  computer.join();
  // 500 ms beside the sleeper is five times the 100 ms alone; at least a third of that.
  std::printf("while the other thread slept, computing %s\n", beside * 3 >= alone * 5 ? "went on" : "was starved");
  return 0;
}

// poll(-1) on a pipe another thread writes to after 50 ms.
int poll_pipe() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    if (write(fds[1], "x", 1) != 1) std::exit(1);
  });
  pollfd fd{fds[0], POLLIN, 0};
  const int ready = poll(&fd, 1, -1);
  std::printf("poll: %d ready, POLLIN %s\n", ready, (fd.revents & POLLIN) != 0 ? "set" : "clear");
  writer.join();
  return 0;
}

// A poll with a timeout on a pipe nobody writes: it times out (0) while another
// thread keeps computing.
int timed_poll() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  std::atomic<bool> stop{false};
  std::thread computer([&] {
    while (!stop.load()) compute(100'000);
  });
  pollfd fd{fds[0], POLLIN, 0};
  const auto start = std::chrono::steady_clock::now();
  const int ready = poll(&fd, 1, 100);
  const auto waited = std::chrono::steady_clock::now() - start;
  stop.store(true);
  computer.join();
  std::printf("poll: %d ready after %s 100 ms\n", ready, waited >= 100ms ? "at least" : "less than");
  return 0;
}

// Three wake-ups through an eventfd (semaphore mode: one per read).
int eventfd_wakeups() {
  const int event = eventfd(0, EFD_SEMAPHORE);
  if (event < 0) return 1;
  std::thread waker([&] {
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(20ms);
      const std::uint64_t one = 1;
      if (write(event, &one, sizeof one) != sizeof one) std::exit(1);
    }
  });
  for (int i = 0; i < 3; ++i) {
    std::uint64_t value = 0;
    if (read(event, &value, sizeof value) != sizeof value) return 1;
    std::printf("woken %d: %llu\n", i + 1, static_cast<unsigned long long>(value));
  }
  waker.join();
  return 0;
}

// epoll_wait(-1) on an eventfd another thread writes to.
int epoll_eventfd() {
  const int event = eventfd(0, 0);
  const int epoll = epoll_create1(0);
  epoll_event registration{};
  registration.events = EPOLLIN;
  registration.data.u64 = 42;
  if (event < 0 || epoll < 0 || epoll_ctl(epoll, EPOLL_CTL_ADD, event, &registration) != 0) return 1;
  std::thread waker([&] {
    std::this_thread::sleep_for(50ms);
    const std::uint64_t seven = 7;
    if (write(event, &seven, sizeof seven) != sizeof seven) std::exit(1);
  });
  epoll_event ready{};
  const int count = epoll_wait(epoll, &ready, 1, -1);
  std::printf("epoll_wait: %d event, data %llu\n", count, static_cast<unsigned long long>(ready.data.u64));
  waker.join();
  return 0;
}

// Two threads that only sleep: the VM must cost (nearly) no host CPU meanwhile.
int idle_sleepers(int milliseconds) {
  const auto duration = std::chrono::milliseconds(milliseconds);
  std::thread other([duration] { std::this_thread::sleep_for(duration); });
  std::this_thread::sleep_for(duration);
  other.join();
  std::printf("both slept\n");
  return 0;
}

// A thread-per-connection server on 127.0.0.1:port: the main thread accepts,
// a detached thread serves each connection; ends after `connections`.
int thread_per_connection(int port, int connections) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  const int yes = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener, 16) != 0) {
    std::perror("listen");
    return 1;
  }
  std::atomic<int> served{0};
  for (int i = 0; i < connections; ++i) {
    const int connection = accept(listener, nullptr, nullptr);
    if (connection < 0) return 1;
    std::thread([connection, &served] {
      char request[1024];
      if (read(connection, request, sizeof request) <= 0) std::exit(1);
      const std::string response = "HTTP/1.0 200 OK\r\nContent-Length: 19\r\n\r\nserved by a thread\n";
      if (write(connection, response.data(), response.size()) != static_cast<ssize_t>(response.size())) std::exit(1);
      close(connection);
      served.fetch_add(1);
    }).detach();
  }
  while (served.load() < connections) std::this_thread::sleep_for(1ms);
  std::printf("served %d connections\n", connections);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string section = argc > 1 ? argv[1] : "";
  if (section == "read-pipe") return read_pipe_fed_by_thread();
  if (section == "compute-beside-sleeper") return compute_beside_sleeper();
  if (section == "poll-pipe") return poll_pipe();
  if (section == "timed-poll") return timed_poll();
  if (section == "eventfd") return eventfd_wakeups();
  if (section == "epoll-eventfd") return epoll_eventfd();
  if (section == "idle-sleepers" && argc > 2) return idle_sleepers(std::atoi(argv[2]));
  if (section == "thread-per-connection" && argc > 3)
    return thread_per_connection(std::atoi(argv[2]), std::atoi(argv[3]));
  std::fprintf(stderr,
               "usage: blocking_threads read-pipe|compute-beside-sleeper|poll-pipe|timed-poll|eventfd|epoll-eventfd|"
               "idle-sleepers MS|thread-per-connection PORT COUNT\n");
  return 2;
}
