// The forwarded-syscall fast path (entry.S: syscall_trap_entry). On kvm_pvm
// every guest ring-0 instruction is emulated (~1 us), and a forwarded call
// through handle_syscall ran ~125 of them around its one `out`. When nothing
// in the guest kernel has to look at a call - one vCPU, one thread, no timer
// that signals, no signalfd, no signal to see to - entry.S copies the six
// arguments into the hypercall page itself, makes the `out` and returns. What
// it leaves for C++ is the same tail dispatch runs after the host answered
// (EINTR, EPIPE, a signal that arrived meanwhile): finish_direct_forward.
#include <asm/unistd_64.h>
#include <stddef.h>

#include "../boot_info.h"
#include "../errno.h"
#include "../hypercall.h"
#include "../signal_state.h"
#include "../trap_frame.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace {

using hyperlet::abi::kSyscallCountSlots;

// The calls entry.S may forward itself, and the host may take directly from
// ring 3 (abi::kDirectSyscalls, checked here against their names): those
// dispatch (syscall_dispatch.cpp) sends to the host from its default branch,
// with nothing before or after but what finish_forwarded does - so neither a
// call it answers itself (mmap, futex, clone, ...), nor a sleep (nanosleep notes
// its deadline first), nor readlinkat (answered here for /proc/self/exe). One
// exception: getrandom, which dispatch answers from the boot pool only to spare
// a host call; the host's answer is as good, and here cheaper than the trap.
constexpr uint16_t kDirectForwardCalls[] = {
    __NR_read,
    __NR_write,
    __NR_open,
    __NR_close,
    __NR_stat,
    __NR_fstat,
    __NR_lstat,
    __NR_poll,
    __NR_lseek,
    __NR_ioctl,
    __NR_pread64,
    __NR_pwrite64,
    __NR_readv,
    __NR_writev,
    __NR_access,
    __NR_pipe,
    __NR_select,
    __NR_dup,
    __NR_dup2,
    __NR_sendfile,
    __NR_socket,
    __NR_connect,
    __NR_accept,
    __NR_sendto,
    __NR_recvfrom,
    __NR_sendmsg,
    __NR_recvmsg,
    __NR_shutdown,
    __NR_bind,
    __NR_listen,
    __NR_getsockname,
    __NR_getpeername,
    __NR_socketpair,
    __NR_setsockopt,
    __NR_getsockopt,
    __NR_fcntl,
    __NR_flock,
    __NR_fsync,
    __NR_fdatasync,
    __NR_truncate,
    __NR_ftruncate,
    __NR_getdents64,
    __NR_getcwd,
    __NR_chdir,
    __NR_fchdir,
    __NR_rename,
    __NR_mkdir,
    __NR_rmdir,
    __NR_unlink,
    __NR_fchmod,
    __NR_statfs,
    __NR_fstatfs,
    __NR_epoll_wait,
    __NR_epoll_ctl,
    __NR_openat,
    __NR_mkdirat,
    __NR_newfstatat,
    __NR_unlinkat,
    __NR_renameat,
    __NR_faccessat,
    __NR_pselect6,
    __NR_ppoll,
    __NR_epoll_pwait,
    __NR_accept4,
    __NR_eventfd2,
    __NR_epoll_create1,
    __NR_dup3,
    __NR_pipe2,
    __NR_preadv,
    __NR_pwritev,
    __NR_recvmmsg,
    __NR_sendmmsg,
    __NR_renameat2,
    __NR_getrandom,
    __NR_statx,
    __NR_faccessat2,
    __NR_timerfd_create,
    __NR_timerfd_settime,
    __NR_timerfd_gettime,
};


constexpr bool same_calls_as_abi() {
  if (sizeof(kDirectForwardCalls) != sizeof(hyperlet::abi::kDirectSyscalls)) return false;
  for (const uint16_t number : kDirectForwardCalls) {
    bool listed = false;
    for (const uint16_t direct : hyperlet::abi::kDirectSyscalls) listed = listed || direct == number;
    if (!listed) return false;
  }
  return true;
}
static_assert(same_calls_as_abi(), "abi::kDirectSyscalls must hold exactly these calls");
}  // namespace

namespace hyperlet::kernel {

struct DirectForwardTable {
  uint8_t forwarded[kSyscallCountSlots];  // 1: entry.S may forward this number itself
};

constexpr DirectForwardTable make_direct_forward_table() {
  DirectForwardTable table{};
  for (const uint16_t number : kDirectForwardCalls) table.forwarded[number] = 1;
  return table;
}

}  // namespace hyperlet::kernel

// entry.S reads both by absolute address (the kernel is linked below 2 GiB).
extern "C" {
extern const hyperlet::kernel::DirectForwardTable direct_forward_numbers;
[[gnu::used]] constinit const hyperlet::kernel::DirectForwardTable direct_forward_numbers =
    hyperlet::kernel::make_direct_forward_table();
[[gnu::used]] uint8_t direct_forward_blockers;  // DirectForwardBlocker bits; 0: the fast path is open
}

namespace hyperlet::kernel {

static_assert(abi::kHypercallArgsAddr == 0x5000 && abi::kSyscallCountsAddr == 0x6000 && abi::kSyscallCountSlots == 512,
              "entry.S: HYPERCALL_ARGS, SYSCALL_COUNTS, DIRECT_FORWARD_SLOTS");
static_assert(offsetof(abi::SyscallArgs, args) == 8 && offsetof(abi::SyscallArgs, result) == 56,
              "entry.S stores the arguments and loads the result at these offsets");
static_assert(abi::kHypercallPortBase + static_cast<uint16_t>(abi::Hypercall::kHostSyscall) == 0x701,
              "entry.S: HOST_SYSCALL_PORT");
static_assert(EINTR == 4 && EPIPE == 32, "entry.S compares the result with -EINTR and -EPIPE");
static_assert(abi::kDirectSyscallOpcode[0] == 0xe7 && abi::kDirectSyscallOpcode[1] == 0x10 &&
                  abi::kDirectSyscallFinishAddr == 0x5ff8 && abi::kDirectSyscallSentBack == 2 &&
                  abi::kTssIoBitmapPortByte == 0x406a && abi::kTssIoBitmapOpen == 0xf0,
              "entry.S: DIRECT_SYSCALL_OPCODE, DIRECT_SYSCALL_FINISH, DIRECT_SYSCALL_SENT_BACK, TSS_PORT_*");

void set_direct_forward_blocker(DirectForwardBlocker blocker, bool blocks) {
  const auto bit = static_cast<uint8_t>(blocker);
  direct_forward_blockers =
      static_cast<uint8_t>(blocks ? direct_forward_blockers | bit : direct_forward_blockers & ~bit);
  update_direct_syscall_port();
}

// Ring 3's direct syscalls (abi::kDirectSyscallOpcode) reach the host exactly
// while entry.S's fast path is open, and only where the host answers them.
void update_direct_syscall_port() {
  const bool open = direct_forward_blockers == 0 && (boot_info().flags & abi::kBootFlagDirectSyscalls) != 0;
  *reinterpret_cast<volatile uint8_t*>(abi::kTssIoBitmapPortByte) =
      open ? abi::kTssIoBitmapOpen : abi::kTssIoBitmapClosed;
}

int64_t finish_forwarded(uint64_t number, const uint64_t (&args)[6], int64_t result) {
  if (signalfds_open()) signalfd_after_forward(number, args, result);
  if (result == -EINTR) return after_host_interrupted(number, result);
  return result == -EPIPE ? after_broken_pipe(number, args, result) : result;
}

void finish_direct_syscall(TrapFrame& frame) {
  auto& finish = *reinterpret_cast<volatile uint64_t*>(abi::kDirectSyscallFinishAddr);
  if (finish != abi::kDirectSyscallFinish) return;
  finish = 0;
  const abi::SyscallArgs& call = *reinterpret_cast<const abi::SyscallArgs*>(abi::kHypercallArgsAddr);
  const uint64_t args[6] = {call.args[0], call.args[1], call.args[2], call.args[3], call.args[4], call.args[5]};
  // From here the frame is the call's return, as entry.S's syscall_return_signals
  // makes one: a restart steps back over the 2-byte `out`.
  frame.vector = kSyscallFrameMarker;
  frame.rax = static_cast<uint64_t>(finish_forwarded(call.number, args, static_cast<int64_t>(frame.rax)));
}

}  // namespace hyperlet::kernel

// entry.S, #GP from ring 3 at the last byte of a page: is it a direct syscall
// whose second byte is on the next page? Checked before it is read, as
// syscall_trap_at does for `int 0x81`.
extern "C" bool direct_syscall_at(uint64_t rip) {
  using namespace hyperlet;
  const kernel::KernelLockGuard lock;
  if (!kernel::user_range_ok(rip, sizeof(abi::kDirectSyscallOpcode))) return false;
  const auto* bytes = reinterpret_cast<const volatile uint8_t*>(rip);
  return bytes[0] == abi::kDirectSyscallOpcode[0] && bytes[1] == abi::kDirectSyscallOpcode[1];
}

// entry.S: the host answered a directly forwarded call with EINTR or EPIPE, or
// a signal wants seeing to. `frame` is the SyscallFrame the slow path would
// have built, its rax the call's number; it gets the call's result.
extern "C" void finish_direct_forward(hyperlet::kernel::SyscallFrame* frame, int64_t result) {
  frame->rax = static_cast<uint64_t>(hyperlet::kernel::finish_forwarded(frame->rax, frame->args, result));
}
