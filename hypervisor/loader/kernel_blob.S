// The guest kernel ELF, embedded into the hyperlet binary at build time.
  .section .rodata
  .balign 16
  .global hyperlet_guest_kernel_start
hyperlet_guest_kernel_start:
  .incbin HYPERLET_GUEST_KERNEL_PATH
  .global hyperlet_guest_kernel_end
hyperlet_guest_kernel_end:
  .section .note.GNU-stack,"",@progbits
