// hyperlet as a library (CMake target hyperlet::host): microVMs restored from
// a snapshot inside the embedding program's own process, run, reset to the
// snapshot and run again, and a pool that keeps reset VMs ready.
//
//   auto snapshot = hyperlet::Snapshot::open("handler.snap");   // checked, no KVM needed
//   auto vm = hyperlet::Vm::restore(*snapshot, {.console_fds = {client, client, 2}});
//   int status = *vm->run();   // until the app exits
//   vm->reset();               // only the pages it touched get the snapshot's bytes again
//
// A snapshot is taken with `hyperlet snapshot -o FILE APP` (or Snapshot::take):
// the app calls hyperlet::ready() where each use should begin, e.g. just before
// it reads a request from stdin. Each run then starts there with fresh entropy
// and clocks that go on; nothing one run wrote in memory, files it opened or
// its registers survive reset().
//
// What the embedding program gives up: SIGPIPE is ignored (a write to a closed
// connection is EPIPE for the app), and the thread that first runs a Vm gets a
// timer signal (SIGRTMIN) while the app uses socket buffers or has several
// threads; a Vm runs on one thread at a time, the one that first ran it. The
// policy is VmOptions', never the snapshot's: a volume or published port it does
// not grant makes restore() fail.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "devices/network_policy.h"
#include "devices/volumes.h"
#include "vm/run_stats.h"

namespace hyperlet {

namespace snapshot {
class File;
}
class ReusableVm;

// The policy and stdio of restored VMs: the same as `hyperlet run --restore`'s
// --volume, --publish and --allow-connect.
struct VmOptions {
  std::vector<VolumeSpec> volumes;  // parse_volume_spec("HOST_DIR:GUEST_DIR[:ro]")
  NetworkPolicy network;            // parse_publish_rule, parse_connect_rule
  // The host fds behind the app's console streams (stdin, stdout, stderr);
  // borrowed, never closed.
  std::array<int, 3> console_fds = {0, 1, 2};
  bool trace = false;  // a line on stderr for each request the policy denies
  bool stats = false;  // Vm::stats() gets KVM's counters and the app's syscalls
};

// An opened, fully checked snapshot file, shared (copy-on-write) by every Vm
// restored from it.
class Snapshot {
 public:
  // Checks magic, versions, every section's checksum and bounds; a corrupt,
  // truncated or foreign-version file is an Error, never half-read. Whether it
  // belongs to this machine is checked when a Vm is restored from it.
  static Result<Snapshot> open(const std::string& path);
  // Runs `app` with `arguments` until it calls hyperlet::ready() and writes
  // the snapshot to `path` (what `hyperlet snapshot -o path app arguments` does).
  static Result<Snapshot> take(const std::string& app, const std::vector<std::string>& arguments,
                               const std::string& path, const VmOptions& options = {});

  std::uint64_t memory_size() const;
  std::uint64_t page_count() const;  // guest pages stored
  const std::string& path() const;

 private:
  friend class Vm;
  std::shared_ptr<snapshot::File> file_;
};

class Vm {
 public:
  // A VM in the snapshot's state, under `options`' policy.
  static Result<Vm> restore(const Snapshot& snapshot, const VmOptions& options = {});
  Vm(Vm&&) noexcept;
  Vm& operator=(Vm&&) noexcept;
  ~Vm();

  // Runs the app until it exits: its exit status (128 + signal for a fatal
  // one), or the Error that ended the run (a guest fault, a broken hypercall).
  // Run it again only after reset().
  Result<int> run();
  // Back to the snapshot; then run() starts where the snapshot was taken.
  Result<void> reset();
  // The last run's (and reset's) counters: exits, hypercalls, pages reset...
  const RunStats& stats() const;

 private:
  explicit Vm(std::unique_ptr<ReusableVm> engine);
  std::unique_ptr<ReusableVm> engine_;
};

// N VMs of one snapshot kept reset and ready. acquire() hands one out; giving it
// back (the Lease's end) resets it, so the next acquire() never sees what the
// last user's run did.
class VmPool {
 public:
  static Result<std::unique_ptr<VmPool>> create(const Snapshot& snapshot, const VmOptions& options, std::size_t size);

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Vm& vm() { return *vm_; }
    Vm* operator->() { return vm_; }
    // Resets the VM and returns it to the pool now; the error, if the reset
    // failed (that VM then leaves the pool).
    Result<void> release();

   private:
    friend class VmPool;
    Lease(VmPool* pool, Vm* vm) : pool_(pool), vm_(vm) {}
    VmPool* pool_;
    Vm* vm_;
  };

  // A ready VM, or an Error when every VM is out.
  Result<Lease> acquire();
  std::size_t size() const { return vms_.size(); }
  std::size_t available() const;

 private:
  VmPool() = default;
  Result<void> give_back(Vm* vm);
  std::vector<std::unique_ptr<Vm>> vms_;
  std::vector<Vm*> ready_;
  mutable std::mutex mutex_;
};

}  // namespace hyperlet
