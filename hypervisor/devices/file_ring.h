// The host's half of the file ring (<hyperlet/file_ring.h>): reads and writes of
// regular files that the app submits in shared memory and waits for in ring 3.
// A kick (one trap, one exit) performs the first and wakes a poller thread; the
// poller performs the ones that follow while they keep coming (kIdleWindow), so
// a file-reading loop costs no trap and no exit per call. Each request is
// performed by the same host syscall handlers a forwarded syscall reaches.
//
// One lock (mutex()) serialises the poller with the vCPU thread's hypercalls:
// they share the fd table, and a hostile guest could submit a request and make
// a hypercall at once.
#pragma once

#include <hyperlet/file_ring.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>

namespace hyperlet {

class SyscallContext;
class HostSyscallTable;

class FileRing {
 public:
  // How long the poller keeps polling after the last request: long enough for
  // an app's next call in a read loop even when the poller lost its CPU for a
  // time slice meanwhile (then it would wrongly see a pause), short enough not
  // to burn a CPU for long. It yields while it polls, so that other threads
  // of a busy machine still run.
  static constexpr std::chrono::microseconds kIdleWindow{2000};

  FileRing() = default;
  FileRing(const FileRing&) = delete;
  FileRing& operator=(const FileRing&) = delete;
  ~FileRing();  // stops the poller

  // The handlers requests are performed with (the run's host syscall table).
  void use_table(const HostSyscallTable* table) { table_ = table; }
  // Tests lengthen it so that a busy machine cannot close it between two requests.
  void set_idle_window(std::chrono::microseconds window) { idle_window_ = window; }
  // abi::kSyscallFileRing.
  std::int64_t attach(SyscallContext& context, std::uint64_t address, std::uint64_t size);
  bool attached() const { return address_ != 0; }
  // abi::kSyscallFileRingKick: performs a submitted request now, and starts the poller.
  std::int64_t kick(SyscallContext& context);
  // Marks which guest fds are regular files (after every syscall, from the fd table's changes).
  void update_fds(SyscallContext& context, std::span<const int> changed);

  std::mutex& mutex() { return io_mutex_; }
  // execve: the ring was the old image's; the poller stops (call without mutex()
  // held: the poller may be waiting for it), and the new image attaches anew.
  void detach();
  // In a forked child: the parent's poller thread does not exist here; the
  // next kick starts one of its own, and the counters start at 0. Called with
  // mutex() held by the caller.
  void after_fork();

  struct Counters {
    std::uint64_t requests = 0;   // performed
    std::uint64_t by_poller = 0;  // of which by the poller thread
    std::uint64_t kicks = 0;
  };
  Counters counters() const;

 private:
  // Takes a submitted request and performs it; false when none was submitted.
  // Called with io_mutex_ held.
  bool perform(SyscallContext& context);
  void poll();
  std::atomic_ref<std::uint32_t> word(std::size_t offset) const;

  const HostSyscallTable* table_ = nullptr;
  std::chrono::microseconds idle_window_ = kIdleWindow;
  SyscallContext* context_ = nullptr;
  std::uint64_t address_ = 0;
  std::byte* host_ring_ = nullptr;  // the ring in hyperlet's mapping of guest memory
  // The host's own record of which guest fds are regular volume files (the
  // guest's copy, fd_flags, is only a hint it may overwrite): a request for any
  // other fd is refused, so the poller never blocks on a socket or a pipe.
  std::array<bool, abi::kFileRingFds> regular_{};

  std::mutex io_mutex_;
  std::mutex control_mutex_;
  std::condition_variable wake_;
  bool wake_requested_ = false;
  std::atomic<bool> stopping_{false};
  std::thread poller_;

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> by_poller_{0};
  std::atomic<std::uint64_t> kicks_{0};
};

}  // namespace hyperlet
