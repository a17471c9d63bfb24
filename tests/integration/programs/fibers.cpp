// Fibers (<hyperlet/fiber.h>), one section per argv[1]; the output must be the
// same in a microVM as natively.
//   ring FIBERS ROUNDS   a token passed around a ring of fibers (Events)
//   pipe                 two fibers talking through a pipe, one parking in read
//   sleep                fibers sleeping different times wake in deadline order
#include <hyperlet/fiber.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace fiber = hyperlet::fiber;

int ring(int count, int rounds) {
  fiber::Scheduler scheduler;
  std::vector<std::unique_ptr<fiber::Event>> turn(static_cast<std::size_t>(count));
  for (auto& event : turn) event = std::make_unique<fiber::Event>();
  long passes = 0;
  long checksum = 0;
  for (int i = 0; i < count; ++i) {
    scheduler.spawn(
        [&, i] {
          for (int round = 0; round < rounds; ++round) {
            // Fiber 0 starts each round; every other fiber waits for its turn.
            if (i != 0 || round != 0) turn[static_cast<std::size_t>(i)]->wait();
            ++passes;
            checksum = (checksum * 31 + i) % 1'000'000'007;
            if (i + 1 < count || round + 1 < rounds) turn[static_cast<std::size_t>((i + 1) % count)]->notify_one();
          }
        },
        16 * 1024);
  }
  scheduler.run();
  std::printf("ring of %d fibers, %d rounds: %ld passes, checksum %ld\n", count, rounds, passes, checksum);
  std::printf("more switches than passes: %s\n",
              scheduler.counters().switches >= static_cast<unsigned long>(passes) ? "yes" : "no");
  return 0;
}

int pipe_between_fibers() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  fiber::Scheduler scheduler;
  std::string received;
  scheduler.spawn([&] {
    char buffer[64];
    for (;;) {
      const ssize_t got = fiber::read(fds[0], buffer, sizeof buffer);
      if (got <= 0) break;
      received.append(buffer, static_cast<std::size_t>(got));
    }
  });
  scheduler.spawn([&] {
    for (int i = 0; i < 3; ++i) {
      fiber::sleep_for(10ms);
      const std::string line = "line " + std::to_string(i) + "\n";
      fiber::write(fds[1], line.data(), line.size());
    }
    fiber::close(fds[1]);
  });
  scheduler.run();
  std::printf("reader got:\n%s", received.c_str());
  std::printf("waits made: %s\n", scheduler.counters().waits > 0 ? "some" : "none");
  return 0;
}

int sleepers() {
  fiber::Scheduler scheduler;
  for (int delay : {30, 10, 20}) {
    scheduler.spawn([delay] {
      fiber::sleep_for(std::chrono::milliseconds(delay));
      std::printf("woke after %d ms\n", delay);
    });
  }
  scheduler.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string section = argc > 1 ? argv[1] : "";
  if (section == "ring" && argc > 3) return ring(std::atoi(argv[2]), std::atoi(argv[3]));
  if (section == "pipe") return pipe_between_fibers();
  if (section == "sleep") return sleepers();
  std::fprintf(stderr, "usage: fibers ring FIBERS ROUNDS|pipe|sleep\n");
  return 2;
}
