// The app's vector registers (x87, SSE, and AVX/AVX-512 where enabled) into and
// out of a save area, for thread switches and signal frames. Where the host
// enabled XSAVE for the guest (hardware KVM) that is xsave64/xrstor64; where the
// app runs with the host's XCR0 but ring 0 is emulated and runs no xsave64
// (kvm_pvm, kBootFlagHostVectorState) the host does it with KVM_GET/SET_XSAVE;
// with neither, fxsave64/fxrstor64 (the first 512 bytes).
#pragma once

#include <stdint.h>

namespace hyperlet::kernel {

// The components saved (0: fxsave64 only) and the area's size (512 for fxsave64).
uint64_t vector_state_features();
uint32_t vector_state_size();

// `area`: 64-byte aligned, vector_state_size() bytes (the XSAVE header's reserved
// bytes as the caller wants them: xsave64 leaves parts of an area as they were).
void save_vector_registers(void* area);
// False where the area cannot be loaded (the host's KVM refused it); the
// registers are then unchanged. xrstor64's own #GP on a bad area is the caller's
// to prevent (signal_delivery.cpp sanitises the header and MXCSR first).
bool load_vector_registers(const void* area);
// A thread switch: save into `save_area` (nullptr: nothing to keep), then load
// `load_area`; one host round trip where the host does both.
void switch_vector_registers(void* save_area, const void* load_area);

}  // namespace hyperlet::kernel
