// include/hyperlet/host.h: the embedding API over vm/micro_vm.h's ReusableVm.
#include <hyperlet/host.h>

#include "snapshot/snapshot_file.h"
#include "vm/micro_vm.h"

namespace hyperlet {
namespace {

RunOptions run_options(const VmOptions& options) {
  RunOptions run;
  run.volumes = options.volumes;
  run.network = options.network;
  run.trace = options.trace;
  run.stats = options.stats;
  run.embedded = true;
  run.seccomp = false;
  return run;
}

}  // namespace

// ------------------------------------------------------------------ Snapshot

Result<Snapshot> Snapshot::open(const std::string& path) {
  auto file = snapshot::File::open(path, "");
  if (!file) return std::unexpected(file.error());
  if (auto ok = file->prepare_reset(); !ok) return std::unexpected(ok.error());
  Snapshot snapshot;
  snapshot.file_ = std::make_shared<snapshot::File>(std::move(*file));
  return snapshot;
}

Result<Snapshot> Snapshot::take(const std::string& app, const std::vector<std::string>& arguments,
                                const std::string& path, const VmOptions& options) {
  RunOptions run = run_options(options);
  run.app_path = app;
  run.arguments = arguments;
  run.arguments_given = !arguments.empty();
  run.snapshot_output = path;
  RunStats stats;
  auto status = run_microvm(run, stats);
  if (!status) return std::unexpected(status.error());
  return open(path);
}

std::uint64_t Snapshot::memory_size() const { return file_->contents().memory_size; }

std::uint64_t Snapshot::page_count() const {
  std::uint64_t pages = 0;
  for (const auto& run : file_->contents().runs) pages += run.page_count;
  return pages;
}

const std::string& Snapshot::path() const { return file_->path(); }

// ------------------------------------------------------------------ Vm

Vm::Vm(std::unique_ptr<ReusableVm> engine) : engine_(std::move(engine)) {}
Vm::Vm(Vm&&) noexcept = default;
Vm& Vm::operator=(Vm&&) noexcept = default;
Vm::~Vm() = default;

Result<Vm> Vm::restore(const Snapshot& snapshot, const VmOptions& options) {
  auto engine = ReusableVm::restore(snapshot.file_, run_options(options), options.console_fds);
  if (!engine) return std::unexpected(engine.error());
  return Vm(std::move(*engine));
}

Result<int> Vm::run() { return engine_->run(); }
Result<void> Vm::reset() { return engine_->reset(); }
const RunStats& Vm::stats() const { return engine_->stats(); }

// ------------------------------------------------------------------ VmPool

Result<std::unique_ptr<VmPool>> VmPool::create(const Snapshot& snapshot, const VmOptions& options, std::size_t size) {
  if (size == 0) return fail(ExitStatus::kUsage, "a VM pool needs at least one VM");
  std::unique_ptr<VmPool> pool(new VmPool());
  for (std::size_t i = 0; i < size; ++i) {
    auto vm = Vm::restore(snapshot, options);
    if (!vm) return std::unexpected(vm.error());
    pool->vms_.push_back(std::make_unique<Vm>(std::move(*vm)));
    pool->ready_.push_back(pool->vms_.back().get());
  }
  return pool;
}

Result<VmPool::Lease> VmPool::acquire() {
  std::lock_guard lock(mutex_);
  if (ready_.empty()) {
    return fail(ExitStatus::kUsage, "every VM of the pool ({}) is in use", vms_.size());
  }
  Vm* vm = ready_.back();
  ready_.pop_back();
  return Lease(this, vm);
}

std::size_t VmPool::available() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

Result<void> VmPool::give_back(Vm* vm) {
  auto reset = vm->reset();
  if (!reset) return reset;  // a VM that cannot be reset never serves again
  std::lock_guard lock(mutex_);
  ready_.push_back(vm);
  return {};
}

VmPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), vm_(std::exchange(other.vm_, nullptr)) {}

VmPool::Lease::~Lease() {
  if (pool_ != nullptr) (void)release();
}

Result<void> VmPool::Lease::release() {
  if (pool_ == nullptr) return {};
  VmPool* pool = std::exchange(pool_, nullptr);
  return pool->give_back(std::exchange(vm_, nullptr));
}

}  // namespace hyperlet
