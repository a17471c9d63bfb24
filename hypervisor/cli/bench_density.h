// `hyperlet bench density`: N idle microVMs at once, their host memory (PSS),
// fds and start rate, then all of them stopped and reaped.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/bench_report.h"
#include "core/error.h"

namespace hyperlet::bench {

// Starts `count` copies of `argv` (a `hyperlet run …` command) at once, stdin a
// pipe nobody writes to, waits until every one is idle, measures, stops them
// with SIGTERM and reaps them and their teardown reapers (this process becomes
// a child subreaper so that none escapes). `progress` is told how many are idle.
Result<DensityMode> run_density(const std::string& name, const std::vector<std::string>& argv, int count,
                                const std::function<void(int idle, int count)>& progress);

// Whether a /proc/PID/syscall line shows a task blocked waiting for the app's
// input or time (read, poll, epoll_wait, accept, nanosleep, …), not KVM_RUN.
bool syscall_line_is_waiting(const std::string& line);
// "Pss:  4471 kB" from /proc/PID/smaps_rollup text; nullopt without one.
std::optional<std::uint64_t> parse_pss_kib(const std::string& smaps_rollup);

}  // namespace hyperlet::bench
