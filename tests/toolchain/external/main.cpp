// The app the toolchain tests build: it prints what hyperlet gives it (argv,
// environment, the <hyperlet/guest.h> answers) so a test can compare exactly.
// C++17 on purpose: <hyperlet/guest.h> must not need a newer standard.
#include <hyperlet/guest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const bool told_ready = hyperlet::ready();
  std::printf("args:");
  for (int i = 1; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf("\n");
  const char* greeting = std::getenv("GREETING");
  std::printf("GREETING=%s\n", greeting != nullptr ? greeting : "(unset)");
  std::printf("in_microvm: %s\n", hyperlet::in_microvm() ? "yes" : "no");
  std::printf("ready: %s\n", told_ready ? "yes" : "no");
  if (const auto info = hyperlet::guest_info()) {
    std::printf("memory: %llu MiB\n", static_cast<unsigned long long>(info->memory_size >> 20));
    // The guest's steady_clock is the host's CLOCK_MONOTONIC, so the host's
    // timestamps come before main() and in this order.
    const auto now = std::chrono::steady_clock::now();
    const bool ordered = info->launched <= info->vm_created && info->vm_created <= info->image_loaded &&
                         info->image_loaded <= now && now - info->launched < std::chrono::seconds(10);
    std::printf("timestamps: %s\n", ordered ? "ordered" : "NOT ORDERED");
  } else {
    std::printf("guest_info: none\n");
  }
  return 0;
}
