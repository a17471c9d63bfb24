// <hyperlet/guest.h>: what an app may ask hyperlet from inside its microVM.
//
// Link with the guest library (hyperlet_add_executable and hyperlet-c++ do).
// Every call also works when the same binary runs natively: it then does the
// natural thing (no microVM, no information, nobody to tell about readiness),
// so an app needs no #ifdef and no separate native build.
#pragma once

// The hyperlet release these headers and the guest library belong to. The
// project's version is read from here (CMakeLists.txt): change it only here.
#define HYPERLET_VERSION_MAJOR 0
#define HYPERLET_VERSION_MINOR 1
#define HYPERLET_VERSION_PATCH 0
#define HYPERLET_VERSION_STRING "0.1.0"

#include <chrono>
#include <cstdint>
#include <optional>

namespace hyperlet {

// What the app may learn about its VM.
struct GuestInfo {
  // Guest memory in bytes (`hyperlet run --memory`, or the image's manifest).
  std::uint64_t memory_size;
  // Points on the guest's CLOCK_MONOTONIC, which is the host's, so they compare
  // with std::chrono::steady_clock::now() inside the guest: `now() - launched`
  // is the app's own time from `hyperlet run` to here.
  std::chrono::steady_clock::time_point launched;      // hyperlet's main() began
  std::chrono::steady_clock::time_point vm_created;    // the KVM VM existed
  std::chrono::steady_clock::time_point image_loaded;  // the app's image was in guest memory
};

// True inside a hyperlet microVM, false when run natively.
bool in_microvm() noexcept;

// The VM's details; std::nullopt when run natively.
std::optional<GuestInfo> guest_info() noexcept;

// Tells hyperlet that the service is ready to serve (call it once start-up is
// done). Returns true if hyperlet took note; natively it does nothing and
// returns false.
bool ready() noexcept;

}  // namespace hyperlet
