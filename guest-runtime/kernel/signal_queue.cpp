// Pending signals and what each carries. Standard signals (1-31) are one bit
// per thread or process with one PendingInfo: a second instance sent while
// one is pending is dropped, as Linux does. Real-time signals (32-64) queue:
// every instance gets an entry of a pool shared by the process (sigqueue's
// si_value, a timer's id), taken in the order sent; the pending bit stays set
// while an instance is left. Linux limits queued signals by RLIMIT_SIGPENDING
// (thousands); a fixed pool keeps this in .bss, and a full one answers EAGAIN
// as Linux does at its limit.
#include "signal_state.h"
#include "syscalls/syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr int kQueueEntries = 256;
constexpr int kProcessOwner = -1;

struct QueuedSignal {
  uint32_t sequence;  // 0: free; else the order it was sent in
  int16_t owner;      // thread slot, or kProcessOwner
  uint16_t signal;
  PendingInfo info;
};

QueuedSignal queue[kQueueEntries];
uint32_t next_sequence = 1;

bool realtime(uint64_t signal) { return signal >= kFirstRealtimeSignal; }

uint64_t& pending_of(int owner) {
  return owner == kProcessOwner ? process_signals.pending : thread_signals(owner).pending;
}

PendingInfo& info_of(int owner, uint64_t signal) {
  return owner == kProcessOwner ? process_signals.info[signal] : thread_signals(owner).info[signal];
}

// The oldest queued instance of `signal` for `owner`, and whether another follows it.
QueuedSignal* oldest(int owner, uint64_t signal, bool& more) {
  QueuedSignal* found = nullptr;
  more = false;
  for (QueuedSignal& entry : queue) {
    if (entry.sequence == 0 || entry.owner != owner || entry.signal != signal) continue;
    if (found == nullptr || entry.sequence < found->sequence) {
      more = more || found != nullptr;
      found = &entry;
    } else {
      more = true;
    }
  }
  return found;
}

// A timer's signal taken (or dropped): the timer may queue it again.
PendingInfo finish(PendingInfo info) {
  if (info.timer != 0) info.uid = timer_signal_taken(info.timer);
  return info;
}

}  // namespace

bool queue_signal(int slot, uint64_t signal, const PendingInfo& info) {
  const int owner = slot < 0 ? kProcessOwner : slot;
  uint64_t& pending = pending_of(owner);
  const uint64_t bit = signal_bit(signal);
  if (!realtime(signal)) {
    if ((pending & bit) == 0) info_of(owner, signal) = info;
    pending |= bit;
    return true;
  }
  for (QueuedSignal& entry : queue) {
    if (entry.sequence != 0) continue;
    entry = QueuedSignal{next_sequence++, static_cast<int16_t>(owner), static_cast<uint16_t>(signal), info};
    pending |= bit;
    return true;
  }
  return false;
}

PendingInfo take_signal(uint64_t signal) {
  const int self = current_thread_slot();
  const uint64_t bit = signal_bit(signal);
  const int owner = (thread_signals(self).pending & bit) != 0 ? self : kProcessOwner;
  uint64_t& pending = pending_of(owner);
  if (!realtime(signal)) {
    pending &= ~bit;
    return finish(info_of(owner, signal));
  }
  bool more = false;
  QueuedSignal* entry = oldest(owner, signal, more);
  if (!more) pending &= ~bit;
  if (entry == nullptr) return PendingInfo{0, 0, 0, 0, 0};
  const PendingInfo info = entry->info;
  entry->sequence = 0;
  return finish(info);
}

void discard_signal(uint64_t signal) {
  const uint64_t bit = signal_bit(signal);
  if ((process_signals.pending & bit) != 0 && !realtime(signal)) finish(process_signals.info[signal]);
  process_signals.pending &= ~bit;
  for (int slot = 0; slot < thread_slots_in_use(); ++slot) {
    ThreadSignals& thread = thread_signals(slot);
    if ((thread.pending & bit) != 0 && !realtime(signal)) finish(thread.info[signal]);
    thread.pending &= ~bit;
  }
  if (!realtime(signal)) return;
  for (QueuedSignal& entry : queue) {
    if (entry.sequence == 0 || entry.signal != signal) continue;
    finish(entry.info);
    entry.sequence = 0;
  }
}

void write_siginfo(uint8_t* out, uint64_t signal, const PendingInfo& info) {
  for (int i = 0; i < 128; ++i) out[i] = 0;
  const int32_t words[6] = {static_cast<int32_t>(signal), 0, info.code, 0, info.pid, info.uid};
  const auto* bytes = reinterpret_cast<const uint8_t*>(words);
  for (uint64_t i = 0; i < sizeof(words); ++i) out[i] = bytes[i];
  const auto* value = reinterpret_cast<const uint8_t*>(&info.value);
  for (uint64_t i = 0; i < sizeof(info.value); ++i) out[24 + i] = value[i];
}

uint32_t pending_for_exec(abi::ExecPendingSignal* out, uint32_t capacity) {
  const int self = current_thread_slot();
  uint32_t count = 0;
  // Nothing here changes: the exec may still fail. (A timer's signal goes
  // without its timer, which the new image does not have.)
  const auto put = [&](uint64_t signal, int owner, const PendingInfo& info) {
    if (count == capacity) return;
    out[count++] = abi::ExecPendingSignal{
        static_cast<uint32_t>(signal), owner == kProcessOwner ? 0u : 1u, info.code, info.pid, info.uid, 0, info.value};
  };
  const int owners[2] = {self, kProcessOwner};
  for (const int owner : owners) {
    const uint64_t pending = pending_of(owner);
    for (uint64_t signal = 1; signal < kFirstRealtimeSignal; ++signal) {
      if ((pending & signal_bit(signal)) != 0) put(signal, owner, info_of(owner, signal));
    }
  }
  if (((thread_signals(self).pending | process_signals.pending) >> (kFirstRealtimeSignal - 1)) == 0) return count;
  // Real-time instances in the order they were sent.
  uint32_t after = 0;
  for (;;) {
    const QueuedSignal* next = nullptr;
    for (const QueuedSignal& entry : queue) {
      if (entry.sequence <= after || (entry.owner != self && entry.owner != kProcessOwner)) continue;
      if (next == nullptr || entry.sequence < next->sequence) next = &entry;
    }
    if (next == nullptr) return count;
    put(next->signal, next->owner, next->info);
    after = next->sequence;
  }
}

void pending_after_exec(const abi::ExecPendingSignal* in, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) {
    const abi::ExecPendingSignal& carried = in[i];
    if (carried.signal == 0 || carried.signal > kSignalCount) continue;
    queue_signal(carried.thread != 0 ? 0 : kProcessOwner, carried.signal,
                 PendingInfo{carried.code, carried.pid, carried.uid, 0, carried.value});
  }
}

void forget_all_queued() {
  if (next_sequence == 1) return;  // nothing was ever queued (each pass costs ~0.1 ms emulated on kvm_pvm)
  for (QueuedSignal& entry : queue) entry.sequence = 0;
}

void forget_queued(int slot) {
  if (next_sequence == 1) return;  // nothing was ever queued
  for (QueuedSignal& entry : queue) {
    if (entry.owner == slot) entry.sequence = 0;
  }
}

}  // namespace hyperlet::kernel
