// Which pages a reused VM's reset write-protects again (DESIGN.md, "Reuse").
//
// KVM's dirty log finds the pages a run wrote by write-protecting them, so each
// page's first write after a reset is a fault (KVM's fast path for these: a few
// µs on kvm_pvm, where the reset probe's 256-page buffer made 300+ of them per
// run). A page left writable costs instead a 4 KiB copy at every reset
// (~0.3 µs), since KVM can no longer say whether it was written again: its bit
// stays set and the reset gives it the snapshot's bytes each time. So pages
// written once stay writable ("kept"), and are all protected again when there
// are too many of them to copy cheaply, or after enough resets that pages a
// single run wrote do not stay in the set forever.
#pragma once

#include <cstdint>
#include <span>

namespace hyperlet {

class KeptDirtyPages {
 public:
  // Above this many kept pages (4 MiB) a reset's copies would cost more than
  // the faults they spare.
  static constexpr std::uint64_t kMaxKeptPages = 1024;
  // Every this many resets all pages are protected again, so the set is
  // relearned from what runs write now.
  static constexpr unsigned kResetsBetweenProtections = 64;

  // Called at each reset with the pages KVM reports written (bit i = page i,
  // all of them restored by this reset): true when they must be write-protected
  // again now.
  bool protect_now(std::span<const std::uint64_t> written);

 private:
  unsigned resets_since_protection_ = 0;
};

}  // namespace hyperlet
