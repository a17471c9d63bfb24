// The guest kernel ELF and the vDSO, embedded into the hyperlet binary at build time.
  .section .rodata
  .balign 16
  .global hyperlet_guest_kernel_start
hyperlet_guest_kernel_start:
  .incbin HYPERLET_GUEST_KERNEL_PATH
  .global hyperlet_guest_kernel_end
hyperlet_guest_kernel_end:
  .balign 16
  .global hyperlet_vdso_start
hyperlet_vdso_start:
  .incbin HYPERLET_VDSO_PATH
  .global hyperlet_vdso_end
hyperlet_vdso_end:
  .section .note.GNU-stack,"",@progbits
