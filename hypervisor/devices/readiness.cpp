// Readiness: poll, ppoll, select, pselect6, epoll and eventfd over the guest's fd
// table (devices/fd_table.h). A guest that waits makes the host wait: each call
// is one host ppoll/epoll_wait on the host fds behind the guest's, during which
// the vCPU's thread sleeps. The run's deadline (SIGALRM, no SA_RESTART)
// interrupts the wait and ends the run.
//
// An epoll instance is a host epoll fd. epoll_ctl registers the host fd behind
// the guest fd with the guest fd as the event's data and keeps the guest's own
// data and events beside it (EpollState), so that epoll_wait knows which guest
// fd each event is for: the connections it finds readable get their input
// stashed in the app's socket buffers (devices/socket_buffers.h), and a
// connection whose stashed input the app has not read yet stays readable, as
// its socket would. A host fd closes when its last guest fd closes, which takes
// it out of every epoll set, as on Linux.
#include <fcntl.h>
#include <fmt/format.h>
#include <hyperlet/abi.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/guest_timeouts.h"
#include "devices/fd_snapshot.h"
#include "devices/host_syscalls.h"

namespace hyperlet {

struct EpollState {
  struct Registration {
    std::uint64_t data;    // the guest's epoll_event.data
    std::uint32_t events;  // the guest's epoll_event.events
    std::weak_ptr<OpenFile> file;
    int host_fd;        // the host fd registered: the file's own, or one of its epoll_duplicates
    bool armed = true;  // EPOLLONESHOT: not reported since the last ADD/MOD
  };
  std::unordered_map<std::int64_t, Registration> by_fd;

  // A closed set gives back the duplicates it made; otherwise they would stay
  // open with their file, and creating and closing sets would pile up host fds.
  ~EpollState() {
    for (const auto& [fd, registration] : by_fd) {
      const auto file = registration.file.lock();
      if (file != nullptr && registration.host_fd != file->host_fd) forget_duplicate(*file, registration.host_fd);
    }
  }
  static void forget_duplicate(OpenFile& file, int host_fd) {
    std::erase_if(file.epoll_duplicates, [&](const EpollDuplicate& duplicate) { return duplicate.get() == host_fd; });
  }
};

namespace {

using R = std::int64_t;
// Linux refuses more pollfds than RLIMIT_NOFILE, which the guest reports as 1024.
constexpr std::uint64_t kMaxPollFds = 1024;
constexpr int kMaxEpollEvents = INT32_MAX / static_cast<int>(sizeof(epoll_event));

std::int64_t fd_argument(std::uint64_t value) { return static_cast<std::int32_t>(value); }

R interrupted_or(SyscallContext& context, int error) {
  if (error == EINTR) context.interrupted = true;
  return -error;
}

std::optional<timespec> checked_timespec(const timespec& value) {
  if (value.tv_sec < 0 || value.tv_nsec < 0 || value.tv_nsec >= kNanosPerSecond) return std::nullopt;
  return value;
}

// Polls guest fds (fd < 0 is skipped; an fd that is not open gets POLLNVAL; a
// directory above the volumes is always readable, and so is a connection with
// stashed input the app has not read), filling revents in place.
R poll_guest_fds(SyscallContext& context, std::vector<pollfd>& fds, const timespec* timeout) {
  constexpr short kReadable = POLLIN | POLLRDNORM;
  std::vector<pollfd> host_fds;
  host_fds.reserve(fds.size());
  bool answer_known = false;
  for (auto& fd : fds) {
    fd.revents = 0;
    if (fd.fd < 0) continue;
    const OpenFile* file = context.files.fds.get(fd.fd);
    if (file == nullptr || file->is_ancestor()) {
      fd.revents = file == nullptr ? POLLNVAL : static_cast<short>(fd.events & kReadable);
      answer_known = answer_known || fd.revents != 0;
      continue;
    }
    if (file->socket != nullptr && context.socket_buffers.unread_input(context, *file->socket) != 0) {
      fd.revents = static_cast<short>(fd.events & kReadable);
      answer_known = answer_known || fd.revents != 0;
    }
    host_fds.push_back(pollfd{file->host_fd, fd.events, 0});
  }
  // With an answer already known, do not block; nor when the call may park.
  const timespec zero{};
  const bool would_wait = !answer_known && (timeout == nullptr || timeout->tv_sec != 0 || timeout->tv_nsec != 0);
  const bool parking = would_wait && context.may_park;
  if (::ppoll(host_fds.data(), host_fds.size(), answer_known || parking ? &zero : timeout, nullptr) < 0) {
    return interrupted_or(context, errno);
  }
  R ready = 0;
  for (std::size_t guest = 0, host = 0; guest < fds.size(); ++guest) {
    if (fds[guest].fd < 0) continue;
    const OpenFile* file = context.files.fds.get(fds[guest].fd);
    if (file != nullptr && !file->is_ancestor()) fds[guest].revents |= host_fds[host++].revents;
    ready += fds[guest].revents != 0 ? 1 : 0;
  }
  if (parking && ready == 0) {
    ParkRequest park{std::move(host_fds), std::nullopt, 0};
    if (timeout != nullptr) {
      constexpr time_t kMaxSeconds = time_t{1} << 33;  // ~272 years: no overflow below
      park.timeout_ns = static_cast<std::uint64_t>(std::min(timeout->tv_sec, kMaxSeconds)) * kNanosPerSecond +
                        static_cast<std::uint64_t>(timeout->tv_nsec);
    }
    context.park = std::move(park);
  }
  return ready;
}

// poll/ppoll: the guest's pollfd array, polled on the host. Shells need this:
// busybox's `read` polls stdin before each byte.
R poll_call(SyscallContext& context, std::uint64_t address, std::uint64_t count, const timespec* timeout) {
  if (count > kMaxPollFds) return -EINVAL;
  auto bytes = context.user_span(address, count * sizeof(pollfd));
  if (count != 0 && !bytes) return -EFAULT;
  std::vector<pollfd> fds(count);
  if (count != 0) std::memcpy(fds.data(), bytes->data(), bytes->size());
  const R ready = poll_guest_fds(context, fds, timeout);
  if (ready < 0) return ready;
  if (count != 0) std::memcpy(bytes->data(), fds.data(), bytes->size());
  return ready;
}

// select/pselect6 as poll: each set bit becomes a pollfd; the sets are rewritten
// with the ready fds. A set bit for a closed fd is EBADF.
R select_call(SyscallContext& context, std::uint64_t count, std::uint64_t read_address, std::uint64_t write_address,
              std::uint64_t except_address, const timespec* timeout) {
  if (static_cast<std::int32_t>(count) < 0) return -EINVAL;
  const std::uint64_t nfds = std::min<std::uint64_t>(count, FdTable::kLimit);
  const std::uint64_t words = (nfds + 63) / 64;
  using Words = std::vector<std::uint64_t>;
  Words sets[3] = {Words(words), Words(words), Words(words)};
  const std::uint64_t addresses[3] = {read_address, write_address, except_address};
  for (int set = 0; set < 3; ++set) {
    if (addresses[set] == 0 || words == 0) continue;
    auto bytes = context.user_span(addresses[set], words * 8);
    if (!bytes) return -EFAULT;
    std::memcpy(sets[set].data(), bytes->data(), words * 8);
  }
  auto is_set = [&](int set, std::uint64_t fd) { return (sets[set][fd / 64] >> (fd % 64) & 1) != 0; };
  constexpr short kRead = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR;
  constexpr short kWrite = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR;
  constexpr short kExcept = POLLPRI;
  std::vector<pollfd> fds;
  for (std::uint64_t fd = 0; fd < nfds; ++fd) {
    short events = 0;
    if (is_set(0, fd)) events |= POLLIN | POLLRDNORM | POLLRDBAND;
    if (is_set(1, fd)) events |= POLLOUT | POLLWRNORM | POLLWRBAND;
    if (is_set(2, fd)) events |= POLLPRI;
    if (events == 0) continue;
    if (context.files.fds.get(static_cast<std::int64_t>(fd)) == nullptr) return -EBADF;
    fds.push_back(pollfd{static_cast<int>(fd), events, 0});
  }
  const R ready = poll_guest_fds(context, fds, timeout);
  if (ready < 0) return ready;
  Words results[3] = {Words(words), Words(words), Words(words)};
  R total = 0;
  for (const pollfd& fd : fds) {
    const auto index = static_cast<std::uint64_t>(fd.fd);
    const std::uint64_t bit = std::uint64_t{1} << (index % 64);
    const short masks[3] = {kRead, kWrite, kExcept};
    for (int set = 0; set < 3; ++set) {
      if (is_set(set, index) && (fd.revents & masks[set]) != 0) {
        results[set][index / 64] |= bit;
        ++total;
      }
    }
  }
  for (int set = 0; set < 3; ++set) {
    if (addresses[set] == 0 || words == 0) continue;
    auto bytes = context.user_span(addresses[set], words * 8);
    if (!bytes) return -EFAULT;
    std::memcpy(bytes->data(), results[set].data(), words * 8);
  }
  return total;
}

timespec now() {
  timespec value{};
  ::clock_gettime(CLOCK_MONOTONIC, &value);
  return value;
}

// What is left of `timeout` after waiting since `start` (never negative).
timespec remaining(const timespec& timeout, const timespec& start) {
  const timespec end = now();
  const std::int64_t total = saturating_nanoseconds(timeout);
  const std::int64_t waited = (end.tv_sec - start.tv_sec) * kNanosPerSecond + (end.tv_nsec - start.tv_nsec);
  const std::int64_t left = std::max<std::int64_t>(total - waited, 0);
  return timespec{static_cast<time_t>(left / kNanosPerSecond), static_cast<long>(left % kNanosPerSecond)};
}

// ---------------------------------------------------------------- epoll, eventfd, timerfd

R add_host_fd(SyscallContext& context, int host, bool cloexec, std::shared_ptr<EpollState> epoll = nullptr,
              OpenFile::Anonymous anonymous = {}) {
  auto file = std::make_shared<OpenFile>();
  file->host_fd = host;
  file->owned = UniqueFd(host);
  file->epoll = std::move(epoll);
  file->anonymous = std::move(anonymous);
  return context.files.fds.add(std::move(file), cloexec);
}

R epoll_create_call(SyscallContext& context, std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(EPOLL_CLOEXEC)) != 0) return -EINVAL;
  const int host = ::epoll_create1(EPOLL_CLOEXEC);
  if (host < 0) return -errno;
  return add_host_fd(context, host, (flags & EPOLL_CLOEXEC) != 0, std::make_shared<EpollState>());
}

R epoll_ctl_call(SyscallContext& context, std::uint64_t epoll_fd, std::uint64_t operation, std::uint64_t fd,
                 std::uint64_t event_address) {
  const OpenFile* epoll = context.files.fds.get(fd_argument(epoll_fd));
  std::shared_ptr<OpenFile> target = context.files.fds.share(fd_argument(fd));
  if (epoll == nullptr || target == nullptr) return -EBADF;
  if (epoll->is_ancestor()) return -EINVAL;
  if (target->is_ancestor()) return -EPERM;  // a directory, as on Linux
  epoll_event event{};
  if (operation != EPOLL_CTL_DEL) {
    auto guest_event = context.read<epoll_event>(event_address);
    if (!guest_event) return -EFAULT;
    event = *guest_event;
  }
  const epoll_event guest_event = event;
  event.data.u64 = static_cast<std::uint64_t>(fd_argument(fd));
  if (epoll->epoll == nullptr) {
    // Not an epoll fd: the host answers (EINVAL) as Linux would.
    return ::epoll_ctl(epoll->host_fd, static_cast<int>(operation), target->host_fd, &event) == 0 ? 0 : -errno;
  }
  auto& registrations = epoll->epoll->by_fd;
  auto existing = registrations.find(fd_argument(fd));
  const bool registered = existing != registrations.end() && existing->second.file.lock() == target;
  int host_fd = registered ? existing->second.host_fd : target->host_fd;
  if (operation == EPOLL_CTL_ADD && !registered) {
    // Another guest fd of the same file may hold the file's host fd in this set
    // already: Linux allows both (it keys by file and fd), the host only by fd.
    const bool file_in_set = std::any_of(registrations.begin(), registrations.end(), [&](const auto& entry) {
      return entry.second.host_fd == target->host_fd && entry.second.file.lock() == target;
    });
    if (file_in_set) {
      if (*context.files.epoll_duplicates_live >= GuestFiles::kMaxEpollDuplicates) return -ENOSPC;
      host_fd = ::fcntl(target->host_fd, F_DUPFD_CLOEXEC, 0);
      if (host_fd < 0) return -errno;
      target->epoll_duplicates.emplace_back(UniqueFd(host_fd), context.files.epoll_duplicates_live);
    }
  }
  if (operation != EPOLL_CTL_ADD && !registered) return -ENOENT;
  if (::epoll_ctl(epoll->host_fd, static_cast<int>(operation), host_fd, &event) != 0) {
    const int error = errno;
    if (operation == EPOLL_CTL_ADD && host_fd != target->host_fd) {
      EpollState::forget_duplicate(*target, host_fd);
    }
    return -error;
  }
  if (operation == EPOLL_CTL_DEL) {
    registrations.erase(existing);
    if (host_fd != target->host_fd) {
      EpollState::forget_duplicate(*target, host_fd);
    }
  } else {
    registrations[fd_argument(fd)] = {guest_event.data.u64, guest_event.events, target, host_fd, true};
  }
  return 0;
}

// Connections whose stashed input the app has not read are readable for a
// level-triggered EPOLLIN registration, even when their socket has nothing more.
void add_stashed_readiness(SyscallContext& context, EpollState& state, std::vector<epoll_event>& ready,
                           std::size_t limit) {
  for (const int fd : context.socket_buffers.fds_with_unread_input(context)) {
    if (ready.size() == limit) return;
    auto it = state.by_fd.find(fd);
    if (it == state.by_fd.end()) continue;
    const EpollState::Registration& registration = it->second;
    if ((registration.events & EPOLLIN) == 0 || (registration.events & EPOLLET) != 0 || !registration.armed) continue;
    if (registration.file.lock() != context.files.fds.share(fd)) continue;
    epoll_event event{};
    event.events = EPOLLIN | (registration.events & EPOLLRDNORM);
    event.data.u64 = static_cast<std::uint64_t>(fd);
    ready.push_back(event);
  }
}

R epoll_wait_call(SyscallContext& context, std::uint64_t epoll_fd, std::uint64_t events_address,
                  std::uint64_t max_events, int timeout_ms) {
  const OpenFile* epoll = context.files.fds.get(fd_argument(epoll_fd));
  if (epoll == nullptr) return -EBADF;
  if (epoll->is_ancestor() || epoll->epoll == nullptr) return -EINVAL;
  const auto count = static_cast<std::int32_t>(max_events);
  if (count <= 0 || count > kMaxEpollEvents) return -EINVAL;
  auto events = context.user_span(events_address, static_cast<std::uint64_t>(count) * sizeof(epoll_event));
  if (!events) return -EFAULT;
  EpollState& state = *epoll->epoll;
  const auto limit = static_cast<std::size_t>(count);
  std::vector<epoll_event> ready;
  add_stashed_readiness(context, state, ready, limit);
  const std::size_t stashed = ready.size();
  if (ready.size() < limit) {
    // Readiness already known: look, do not wait.
    std::vector<epoll_event> host(std::min<std::size_t>(limit - ready.size(), 1024));
    const bool parking = context.may_park && ready.empty() && timeout_ms != 0;
    const int found = ::epoll_wait(epoll->host_fd, host.data(), static_cast<int>(host.size()),
                                   ready.empty() && !parking ? timeout_ms : 0);
    if (found < 0 && ready.empty()) return interrupted_or(context, errno);
    if (found == 0 && parking) {
      // An epoll fd is readable while anything in its set is ready.
      ParkRequest park{{pollfd{epoll->host_fd, POLLIN, 0}}, std::nullopt, 0};
      if (timeout_ms > 0) park.timeout_ns = static_cast<std::uint64_t>(timeout_ms) * 1'000'000;
      context.park = std::move(park);
      return 0;
    }
    for (int i = 0; i < found; ++i) {
      const epoll_event& event = host[static_cast<std::size_t>(i)];
      auto same = std::find_if(ready.begin(), ready.begin() + static_cast<std::ptrdiff_t>(stashed),
                               [&](const epoll_event& known) { return known.data.u64 == event.data.u64; });
      if (same != ready.begin() + static_cast<std::ptrdiff_t>(stashed)) {
        same->events |= event.events;
      } else {
        ready.push_back(event);
      }
      if ((event.events & EPOLLIN) != 0)
        context.socket_buffers.stash_input(context, static_cast<std::int64_t>(event.data.u64));
    }
  }
  // Back to the guest's own data.
  for (epoll_event& event : ready) {
    auto it = state.by_fd.find(static_cast<std::int64_t>(event.data.u64));
    if (it == state.by_fd.end()) continue;
    event.data.u64 = it->second.data;
    if ((it->second.events & EPOLLONESHOT) != 0) it->second.armed = false;
  }
  std::memcpy(events->data(), ready.data(), ready.size() * sizeof(epoll_event));
  return static_cast<R>(ready.size());
}

}  // namespace

// ---------------------------------------------------------------- snapshots (devices/fd_snapshot.h)

FdDescription describe_epoll(const OpenFile& file) {
  if (file.epoll == nullptr) return std::unexpected("not an epoll set");
  nlohmann::json registrations = nlohmann::json::array();
  for (const auto& [fd, registration] : file.epoll->by_fd) {
    if (registration.file.expired()) continue;  // its file is closed: Linux dropped it too
    registrations.push_back(
        {{"fd", fd}, {"data", registration.data}, {"events", registration.events}, {"armed", registration.armed}});
  }
  return nlohmann::json{{"kind", "epoll"}, {"registrations", registrations}};
}

RestoredFile restore_epoll(SyscallContext& context, const nlohmann::json& description) {
  UniqueFd host(::epoll_create1(EPOLL_CLOEXEC));
  if (!host.valid()) return std::unexpected(fmt::format("epoll_create1: {}", std::strerror(errno)));
  auto state = std::make_shared<EpollState>();
  for (const auto& entry : description.at("registrations")) {
    const auto fd = entry.at("fd").get<std::int64_t>();
    std::shared_ptr<OpenFile> target = context.files.fds.share(fd);
    if (target == nullptr || target->is_ancestor()) {
      return std::unexpected(fmt::format("an epoll set names fd {}, which the snapshot does not have", fd));
    }
    int host_fd = target->host_fd;
    const bool file_in_set = std::any_of(state->by_fd.begin(), state->by_fd.end(), [&](const auto& other) {
      return other.second.host_fd == target->host_fd && other.second.file.lock() == target;
    });
    if (file_in_set) {
      if (*context.files.epoll_duplicates_live >= GuestFiles::kMaxEpollDuplicates) {
        return std::unexpected("more epoll registrations than the app may hold");
      }
      host_fd = ::fcntl(target->host_fd, F_DUPFD_CLOEXEC, 0);
      if (host_fd < 0) return std::unexpected(fmt::format("dup: {}", std::strerror(errno)));
      target->epoll_duplicates.emplace_back(UniqueFd(host_fd), context.files.epoll_duplicates_live);
    }
    const auto events = entry.at("events").get<std::uint32_t>();
    const bool armed = entry.at("armed").get<bool>();
    epoll_event event{};
    // A one-shot registration that already fired stays quiet until the app re-arms it.
    event.events = armed ? events : (events & static_cast<std::uint32_t>(EPOLLONESHOT));
    event.data.u64 = static_cast<std::uint64_t>(fd);
    if (::epoll_ctl(host.get(), EPOLL_CTL_ADD, host_fd, &event) != 0) {
      return std::unexpected(fmt::format("epoll_ctl of fd {}: {}", fd, std::strerror(errno)));
    }
    state->by_fd[fd] = {entry.at("data").get<std::uint64_t>(), events, target, host_fd, armed};
  }
  auto file = std::make_shared<OpenFile>();
  file->host_fd = host.get();
  file->owned = std::move(host);
  file->epoll = std::move(state);
  return file;
}

// An eventfd's counter is read (which empties it) and written back; with
// EFD_SEMAPHORE a read takes one, so the reads are counted.
FdDescription describe_eventfd(const OpenFile& file) {
  const int flags = ::fcntl(file.host_fd, F_GETFL);
  if (flags < 0 || ::fcntl(file.host_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return std::unexpected(fmt::format("an eventfd whose flags cannot be read: {}", std::strerror(errno)));
  }
  std::uint64_t count = 0;
  constexpr std::uint64_t kMaxSemaphoreReads = 1 << 20;
  for (std::uint64_t value = 0; ::read(file.host_fd, &value, sizeof value) == sizeof value;) {
    count += value;
    if (!file.anonymous.semaphore || count >= kMaxSemaphoreReads) break;
  }
  const bool restored = count == 0 || ::write(file.host_fd, &count, sizeof count) == sizeof count;
  ::fcntl(file.host_fd, F_SETFL, flags);
  if (file.anonymous.semaphore && count >= kMaxSemaphoreReads) {
    return std::unexpected(fmt::format("a semaphore eventfd counting {} or more (not kept)", kMaxSemaphoreReads));
  }
  if (!restored) return std::unexpected(fmt::format("an eventfd whose count cannot be kept: {}", std::strerror(errno)));
  return nlohmann::json{{"kind", "eventfd"},
                        {"count", count},
                        {"semaphore", file.anonymous.semaphore},
                        {"nonblocking", (flags & O_NONBLOCK) != 0}};
}

RestoredFile restore_eventfd(SyscallContext&, const nlohmann::json& description) {
  const auto count = description.at("count").get<std::uint64_t>();
  const bool semaphore = description.at("semaphore").get<bool>();
  const int host = ::eventfd(0, EFD_CLOEXEC | (semaphore ? EFD_SEMAPHORE : 0) |
                                    (description.at("nonblocking").get<bool>() ? EFD_NONBLOCK : 0));
  if (host < 0) return std::unexpected(fmt::format("eventfd: {}", std::strerror(errno)));
  auto file = std::make_shared<OpenFile>();
  file->host_fd = host;
  file->owned = UniqueFd(host);
  file->anonymous.kind = OpenFile::Anonymous::Kind::kEventfd;
  file->anonymous.semaphore = semaphore;
  if (count != 0 && ::write(host, &count, sizeof count) != sizeof count) {
    return std::unexpected(fmt::format("eventfd count {}: {}", count, std::strerror(errno)));
  }
  return file;
}

// A timerfd keeps its clock, its time left and its interval; expirations the
// app has not read yet are counted too (the read that counts them empties
// them, harmless as the snapshot ends that run).
FdDescription describe_timerfd(const OpenFile& file) {
  itimerspec value{};
  if (::timerfd_gettime(file.host_fd, &value) != 0) {
    return std::unexpected(fmt::format("a timerfd that cannot be read: {}", std::strerror(errno)));
  }
  const int flags = ::fcntl(file.host_fd, F_GETFL);
  if (flags < 0) return std::unexpected(fmt::format("a timerfd whose flags cannot be read: {}", std::strerror(errno)));
  std::uint64_t expirations = 0;
  ::fcntl(file.host_fd, F_SETFL, flags | O_NONBLOCK);
  if (::read(file.host_fd, &expirations, sizeof expirations) != sizeof expirations) expirations = 0;
  ::fcntl(file.host_fd, F_SETFL, flags);
  auto nanoseconds = [](const timespec& time) { return time.tv_sec * 1'000'000'000ll + time.tv_nsec; };
  return nlohmann::json{{"kind", "timerfd"},
                        {"clock", file.anonymous.clock},
                        {"left_ns", nanoseconds(value.it_value)},
                        {"interval_ns", nanoseconds(value.it_interval)},
                        {"expirations", expirations},
                        {"nonblocking", (flags & O_NONBLOCK) != 0}};
}

RestoredFile restore_timerfd(SyscallContext&, const nlohmann::json& description) {
  const auto clock = description.at("clock").get<int>();
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME) {
    return std::unexpected(fmt::format("a timerfd of clock {}", clock));
  }
  const int host =
      ::timerfd_create(clock, TFD_CLOEXEC | (description.at("nonblocking").get<bool>() ? TFD_NONBLOCK : 0));
  if (host < 0) return std::unexpected(fmt::format("timerfd_create: {}", std::strerror(errno)));
  auto file = std::make_shared<OpenFile>();
  file->host_fd = host;
  file->owned = UniqueFd(host);
  file->anonymous.kind = OpenFile::Anonymous::Kind::kTimerfd;
  file->anonymous.clock = clock;
  auto to_timespec = [](std::int64_t nanoseconds) {
    const std::int64_t clamped = std::max<std::int64_t>(nanoseconds, 0);
    return timespec{static_cast<time_t>(clamped / 1'000'000'000), static_cast<long>(clamped % 1'000'000'000)};
  };
  itimerspec value{to_timespec(description.at("interval_ns").get<std::int64_t>()),
                   to_timespec(description.at("left_ns").get<std::int64_t>())};
  if (const auto expirations = description.at("expirations").get<std::uint64_t>(); expirations != 0) {
    // Expired and not read: it fires again at once, and the app's read counts one
    // (TFD_IOC_SET_TICKS keeps the exact count, where the kernel has it).
    constexpr unsigned long kSetTicks = _IOW('T', 0, std::uint64_t);  // TFD_IOC_SET_TICKS, absent from glibc's header
    if (::ioctl(host, kSetTicks, &expirations) != 0 && value.it_value.tv_sec == 0 && value.it_value.tv_nsec == 0) {
      value.it_value.tv_nsec = 1;
    }
  }
  if ((value.it_value.tv_sec != 0 || value.it_value.tv_nsec != 0) && ::timerfd_settime(host, 0, &value, nullptr) != 0) {
    return std::unexpected(fmt::format("timerfd_settime: {}", std::strerror(errno)));
  }
  return file;
}

void register_readiness_syscalls(HostSyscallTable& table) {
  using C = SyscallContext;
  using A = SyscallArguments;
  table.add(SYS_poll, [](C& context, const A& a) -> R {
    const auto milliseconds = static_cast<std::int32_t>(a[2]);  // int; negative waits forever
    const timespec timeout{milliseconds / 1000, static_cast<long>(milliseconds % 1000) * 1'000'000};
    return poll_call(context, a[0], a[1], milliseconds < 0 ? nullptr : &timeout);
  });
  table.add(SYS_ppoll, [](C& context, const A& a) -> R {
    // a[3], the signal mask, does not matter: the guest delivers no signals yet.
    if (a[2] == 0) return poll_call(context, a[0], a[1], nullptr);
    auto timeout = context.read<timespec>(a[2]);
    if (!timeout) return -EFAULT;
    if (!checked_timespec(*timeout)) return -EINVAL;
    const timespec start = now();
    const R ready = poll_call(context, a[0], a[1], &*timeout);
    if (ready >= 0 && !context.write(a[2], remaining(*timeout, start))) return -EFAULT;
    return ready;
  });
  table.add(SYS_select, [](C& context, const A& a) -> R {
    if (a[4] == 0) return select_call(context, a[0], a[1], a[2], a[3], nullptr);
    auto interval = context.read<timeval>(a[4]);
    if (!interval) return -EFAULT;
    if (interval->tv_sec < 0 || interval->tv_usec < 0) return -EINVAL;
    // Linux normalises oversized microseconds rather than refusing them.
    const timespec timeout{interval->tv_sec + interval->tv_usec / 1'000'000,
                           static_cast<long>(interval->tv_usec % 1'000'000) * 1000};
    const timespec start = now();
    const R ready = select_call(context, a[0], a[1], a[2], a[3], &timeout);
    if (ready >= 0) {
      const timespec left = remaining(timeout, start);
      if (!context.write(a[4], timeval{left.tv_sec, left.tv_nsec / 1000})) return -EFAULT;
    }
    return ready;
  });
  table.add(SYS_pselect6, [](C& context, const A& a) -> R {
    // a[5] points at {sigmask, size}: no signals are delivered in the guest yet.
    if (a[4] == 0) return select_call(context, a[0], a[1], a[2], a[3], nullptr);
    auto timeout = context.read<timespec>(a[4]);
    if (!timeout) return -EFAULT;
    if (!checked_timespec(*timeout)) return -EINVAL;
    const timespec start = now();
    const R ready = select_call(context, a[0], a[1], a[2], a[3], &*timeout);
    if (ready >= 0 && !context.write(a[4], remaining(*timeout, start))) return -EFAULT;
    return ready;
  });

  table.add(SYS_epoll_create, [](C& context, const A& a) -> R {
    if (static_cast<std::int32_t>(a[0]) <= 0) return -EINVAL;
    return epoll_create_call(context, 0);
  });
  table.add(SYS_epoll_create1, [](C& context, const A& a) -> R { return epoll_create_call(context, a[0]); });
  table.add(SYS_epoll_ctl, [](C& context, const A& a) -> R { return epoll_ctl_call(context, a[0], a[1], a[2], a[3]); });
  table.add(SYS_epoll_wait, [](C& context, const A& a) -> R {
    return epoll_wait_call(context, a[0], a[1], a[2], static_cast<std::int32_t>(a[3]));
  });
  table.add(SYS_epoll_pwait, [](C& context, const A& a) -> R {
    return epoll_wait_call(context, a[0], a[1], a[2], static_cast<std::int32_t>(a[3]));
  });
  table.add(SYS_epoll_pwait2, [](C& context, const A& a) -> R {
    if (a[3] == 0) return epoll_wait_call(context, a[0], a[1], a[2], -1);
    auto timeout = context.read<timespec>(a[3]);
    if (!timeout) return -EFAULT;
    if (!checked_timespec(*timeout)) return -EINVAL;
    return epoll_wait_call(context, a[0], a[1], a[2], saturating_milliseconds_rounded_up(*timeout));
  });

  auto eventfd = [](C& context, std::uint64_t initial, std::uint64_t flags) -> R {
    if ((flags & ~static_cast<std::uint64_t>(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) != 0) return -EINVAL;
    const int host = ::eventfd(static_cast<unsigned>(initial),
                               static_cast<int>(flags & (EFD_NONBLOCK | EFD_SEMAPHORE)) | EFD_CLOEXEC);
    if (host < 0) return -errno;
    OpenFile::Anonymous made;
    made.kind = OpenFile::Anonymous::Kind::kEventfd;
    made.semaphore = (flags & EFD_SEMAPHORE) != 0;
    return add_host_fd(context, host, (flags & EFD_CLOEXEC) != 0, nullptr, made);
  };
  table.add(SYS_eventfd, [eventfd](C& context, const A& a) -> R { return eventfd(context, a[0], 0); });
  table.add(SYS_eventfd2, [eventfd](C& context, const A& a) -> R { return eventfd(context, a[0], a[1]); });

  // signalfd's host side (guest kernel: kernel/syscalls/signalfd.cpp): an
  // eventfd that the guest kernel keeps readable exactly while a signal the
  // signalfd watches is pending, so that poll, select and epoll see it as
  // Linux's; the guest answers its reads. Only the guest kernel makes these
  // calls (it answers the app's own with ENOSYS).
  table.add(abi::kSyscallSignalfd, [](C& context, const A& a) -> R {
    if ((a[0] & ~static_cast<std::uint64_t>(O_CLOEXEC | O_NONBLOCK)) != 0) return -EINVAL;
    const int host = ::eventfd(0, EFD_CLOEXEC | ((a[0] & O_NONBLOCK) != 0 ? EFD_NONBLOCK : 0));
    if (host < 0) return -errno;
    OpenFile::Anonymous made;
    made.kind = OpenFile::Anonymous::Kind::kSignalfd;
    return add_host_fd(context, host, (a[0] & O_CLOEXEC) != 0, nullptr, made);
  });
  table.add(abi::kSyscallSignalfdReady, [](C& context, const A& a) -> R {
    const OpenFile* file = context.files.fds.get(fd_argument(a[0]));
    if (file == nullptr || file->anonymous.kind != OpenFile::Anonymous::Kind::kSignalfd) return -EBADF;
    // The counter is 1 or 0; looked at first, so neither call can block.
    pollfd readable{file->host_fd, POLLIN, 0};
    const bool now = ::poll(&readable, 1, 0) == 1;
    std::uint64_t count = 1;
    if (a[1] != 0 && !now && ::write(file->host_fd, &count, sizeof count) != sizeof count) return -errno;
    if (a[1] == 0 && now && ::read(file->host_fd, &count, sizeof count) != sizeof count) return -errno;
    return 0;
  });

  // timerfd: the guest's clocks are the host's (boot_info offsets), so times carry over.
  table.add(SYS_timerfd_create, [](C& context, const A& a) -> R {
    const auto clock = static_cast<clockid_t>(a[0]);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME) return -EINVAL;
    if ((a[1] & ~static_cast<std::uint64_t>(TFD_CLOEXEC | TFD_NONBLOCK)) != 0) return -EINVAL;
    const int host = ::timerfd_create(clock, static_cast<int>(a[1] & TFD_NONBLOCK) | TFD_CLOEXEC);
    if (host < 0) return -errno;
    OpenFile::Anonymous made;
    made.kind = OpenFile::Anonymous::Kind::kTimerfd;
    made.clock = clock;
    return add_host_fd(context, host, (a[1] & TFD_CLOEXEC) != 0, nullptr, made);
  });
  table.add(SYS_timerfd_settime, [](C& context, const A& a) -> R {
    const OpenFile* file = context.files.fds.get(fd_argument(a[0]));
    if (file == nullptr) return -EBADF;
    if (file->is_ancestor()) return -EINVAL;
    auto value = context.read<itimerspec>(a[2]);
    if (!value) return -EFAULT;
    itimerspec old{};
    if (::timerfd_settime(file->host_fd, static_cast<int>(a[1]), &*value, &old) != 0) return -errno;
    if (a[3] != 0 && !context.write(a[3], old)) return -EFAULT;
    return 0;
  });
  table.add(SYS_timerfd_gettime, [](C& context, const A& a) -> R {
    const OpenFile* file = context.files.fds.get(fd_argument(a[0]));
    if (file == nullptr) return -EBADF;
    if (file->is_ancestor()) return -EINVAL;
    itimerspec value{};
    if (::timerfd_gettime(file->host_fd, &value) != 0) return -errno;
    return context.write(a[1], value) ? 0 : -EFAULT;
  });
}

}  // namespace hyperlet
