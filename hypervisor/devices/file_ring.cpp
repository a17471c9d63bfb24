#include "devices/file_ring.h"

#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "core/background_thread.h"
#include "core/trace_output.h"
#include "devices/host_syscalls.h"
#include "devices/syscall_decoding.h"
#include "devices/syscall_names.h"

namespace hyperlet {
namespace {

using abi::FileRequest;
using Shared = abi::FileRing;  // the layout in guest memory

constexpr std::size_t kRequestOffset = offsetof(Shared, request);
constexpr std::size_t kStateOffset = kRequestOffset + offsetof(FileRequest, state);
constexpr std::size_t kResultOffset = kRequestOffset + offsetof(FileRequest, result);

std::optional<std::uint64_t> syscall_of(std::uint32_t op) {
  switch (op) {
    case abi::kFileRead:
      return SYS_read;
    case abi::kFileWrite:
      return SYS_write;
    case abi::kFilePread:
      return SYS_pread64;
    case abi::kFilePwrite:
      return SYS_pwrite64;
    default:
      return std::nullopt;
  }
}

bool is_regular_volume_file(const OpenFile* file) {
  if (file == nullptr || file->volume == nullptr || file->directory || file->is_ancestor()) return false;
  struct stat info {};
  // A FIFO or a device in a volume could block: those keep the trap path.
  return ::fstat(file->host_fd, &info) == 0 && S_ISREG(info.st_mode);
}

}  // namespace

FileRing::~FileRing() {
  stopping_.store(true);
  {
    std::lock_guard lock(control_mutex_);
    wake_requested_ = true;
  }
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void FileRing::detach() {
  if (poller_.joinable()) {
    stopping_.store(true);
    {
      std::lock_guard lock(control_mutex_);
      wake_requested_ = true;
    }
    wake_.notify_all();
    poller_.join();
    stopping_.store(false);
    wake_requested_ = false;
  }
  address_ = 0;
  host_ring_ = nullptr;
  context_ = nullptr;
  regular_ = {};
}

void FileRing::after_fork() {
  new (&poller_) std::thread();  // the copy of another process's thread: never joined
  new (&control_mutex_) std::mutex();
  new (&wake_) std::condition_variable();
  wake_requested_ = false;
  stopping_.store(false);
  if (attached()) word(offsetof(Shared, poller_active)).store(0);
  // The child's --stats count its own requests.
  requests_.store(0);
  by_poller_.store(0);
  kicks_.store(0);
}

std::atomic_ref<std::uint32_t> FileRing::word(std::size_t offset) const {
  return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(host_ring_ + offset));
}

std::int64_t FileRing::attach(SyscallContext& context, std::uint64_t address, std::uint64_t size) {
  if (attached()) return -EINVAL;
  // The app spins while the poller works: with one CPU they would take turns by
  // time slices, far slower than the trap path. The guest library then keeps that.
  cpu_set_t cpus;
  if (::sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2) return -EOPNOTSUPP;
  if (size != sizeof(Shared) || address % abi::kPageSize != 0) return -EINVAL;
  auto ring = context.user_span(address, size);
  if (!ring) return -EFAULT;
  auto version = context.read<std::uint32_t>(address + offsetof(Shared, version));
  if (!version || *version != abi::kFileRingVersion) return -EINVAL;
  address_ = address;
  host_ring_ = ring->data();
  context_ = &context;
  word(offsetof(Shared, poller_active)).store(0);
  word(kStateOffset).store(abi::kRequestFree);
  std::memset(host_ring_ + offsetof(Shared, fd_flags), 0, abi::kFileRingFds);
  // Files already open get their flags as if they were new.
  for (int fd = 0; fd < static_cast<int>(abi::kFileRingFds); ++fd) context.files.fds.mark_changed(fd);
  return 0;
}

void FileRing::update_fds(SyscallContext& context, std::span<const int> changed) {
  if (!attached()) return;
  for (const int fd : changed) {
    if (fd < 0 || fd >= static_cast<int>(abi::kFileRingFds)) continue;
    const bool regular = is_regular_volume_file(context.files.fds.get(fd));
    regular_[static_cast<std::size_t>(fd)] = regular;
    host_ring_[offsetof(Shared, fd_flags) + static_cast<std::size_t>(fd)] =
        std::byte{regular ? abi::kFdRegularFile : std::uint8_t{0}};
  }
}

bool FileRing::perform(SyscallContext& context) {
  if (!attached()) return false;
  std::uint32_t expected = abi::kRequestSubmitted;
  if (!word(kStateOffset).compare_exchange_strong(expected, abi::kRequestTaken, std::memory_order_acq_rel)) {
    return false;
  }
  FileRequest request{};
  std::memcpy(&request, host_ring_ + kRequestOffset, sizeof request);  // once: the guest may change it meanwhile
  std::int64_t result = -EINVAL;
  const auto number = syscall_of(request.op);
  const bool regular = request.fd >= 0 && request.fd < static_cast<std::int32_t>(abi::kFileRingFds) &&
                       regular_[static_cast<std::size_t>(request.fd)];
  if (!regular) result = -EBADF;  // not a file the ring serves (closed, a socket, a pipe...)
  if (number && regular && table_ != nullptr) {
    const SyscallArguments arguments{static_cast<std::uint64_t>(static_cast<std::int64_t>(request.fd)),
                                     request.buffer,
                                     request.length,
                                     static_cast<std::uint64_t>(request.offset),
                                     0,
                                     0};
    result = table_->call_handler(*number, context, arguments);
    if (context.trace) {
      write_trace_line(fmt::format("[hyperlet host] {}({}, {:#x}, {}) = {} (file ring)", syscall_name(*number),
                                   request.fd, request.buffer, request.length, decode_result(result)));
    }
  }
  std::memcpy(host_ring_ + kResultOffset, &result, sizeof result);
  word(kStateOffset).store(abi::kRequestDone, std::memory_order_release);
  requests_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::int64_t FileRing::kick(SyscallContext& context) {
  if (!attached()) return -EINVAL;
  kicks_.fetch_add(1, std::memory_order_relaxed);
  perform(context);  // the vCPU thread holds io_mutex_ for the hypercall
  if (!poller_.joinable()) poller_ = start_background_thread([this] { poll(); });
  {
    std::lock_guard lock(control_mutex_);
    wake_requested_ = true;
  }
  wake_.notify_one();
  return 0;
}

void FileRing::poll() {
  auto active = word(offsetof(Shared, poller_active));
  auto state = word(kStateOffset);
  for (;;) {
    {
      std::unique_lock lock(control_mutex_);
      wake_.wait(lock, [&] { return wake_requested_; });
      wake_requested_ = false;
    }
    if (stopping_.load()) return;
    active.store(1);
    auto last = std::chrono::steady_clock::now();
    for (unsigned empty_polls = 0; !stopping_.load(std::memory_order_relaxed);) {
      if (state.load(std::memory_order_acquire) == abi::kRequestSubmitted) {
        std::lock_guard io(io_mutex_);
        if (perform(*context_)) by_poller_.fetch_add(1, std::memory_order_relaxed);
        last = std::chrono::steady_clock::now();
        empty_polls = 0;
        continue;
      }
      if (std::chrono::steady_clock::now() - last > idle_window_) {
        // The guest stores its request before it reads poller_active; we clear
        // poller_active before we look once more: one of us sees the other.
        active.store(0);
        if (state.load() != abi::kRequestSubmitted) break;
        active.store(1);
        continue;
      }
      __builtin_ia32_pause();
      // After a few µs without a request, let other threads of a busy machine run
      // (it returns at once when nothing else wants this CPU).
      if (++empty_polls % 64 == 0) sched_yield();
    }
    active.store(0);
  }
}

FileRing::Counters FileRing::counters() const { return Counters{requests_.load(), by_poller_.load(), kicks_.load()}; }

}  // namespace hyperlet
