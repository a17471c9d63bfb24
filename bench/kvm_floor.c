/* The raw KVM floor: the least a process can do to run guest code under KVM.
 *
 * Opens /dev/kvm, creates a VM with one 4 KiB memory slot and one vCPU, runs
 * the vCPU in real mode until its first exit (the guest is `out %al, $0x10;
 * hlt`), checks that the exit is the expected port write and quits. Every
 * ioctl is checked; any failure prints one line and exits 1.
 *
 * scripts/bench-boot times this whole process next to `hyperlet run` so that
 * hyperlet's boot is reported as a ratio to what KVM itself costs here. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_ADDR 0x1000u
#define GUEST_SIZE 0x1000u
#define FLOOR_PORT 0x10u

static void die(const char *what) {
  fprintf(stderr, "kvm_floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail(const char *what) {
  fprintf(stderr, "kvm_floor: %s\n", what);
  exit(1);
}

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int version = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (version < 0) die("KVM_GET_API_VERSION");
  if (version != KVM_API_VERSION) fail("unexpected KVM API version");

  int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
  if (vm < 0) die("KVM_CREATE_VM");

  uint8_t *memory = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) die("mmap guest memory");
  /* out %al, $FLOOR_PORT ; hlt */
  const uint8_t code[] = {0xe6, FLOOR_PORT, 0xf4};
  memcpy(memory, code, sizeof code);

  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .guest_phys_addr = GUEST_ADDR,
      .memory_size = GUEST_SIZE,
      .userspace_addr = (uint64_t)(uintptr_t)memory,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < 0) die("KVM_GET_VCPU_MMAP_SIZE");
  if ((size_t)run_size < sizeof(struct kvm_run)) fail("KVM_GET_VCPU_MMAP_SIZE too small");
  struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");

  /* Real mode, CS:IP = 0:GUEST_ADDR. */
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = GUEST_ADDR;
  regs.rax = 42;
  regs.rflags = 0x2;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
  if (run->exit_reason != KVM_EXIT_IO) {
    fprintf(stderr, "kvm_floor: first exit was reason %u, expected KVM_EXIT_IO (%u)\n", run->exit_reason,
            KVM_EXIT_IO);
    return 1;
  }
  if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != FLOOR_PORT || run->io.size != 1)
    fail("first exit was not the guest's 1-byte out to the floor port");
  uint8_t value = *((uint8_t *)run + run->io.data_offset);
  if (value != 42) fail("guest wrote an unexpected value");

  munmap(run, (size_t)run_size);
  close(vcpu);
  close(vm);
  munmap(memory, GUEST_SIZE);
  close(kvm);
  return 0;
}
