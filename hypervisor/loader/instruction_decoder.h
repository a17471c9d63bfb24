// Zydis, loaded when an image's code is first decoded (dlopen), not linked:
// only a boot that must find syscall sites by decoding needs it (no manifest
// and no site cache entry), and on a PVM host every page a library makes the
// process touch at start costs ~30 µs (PERFORMANCE.md, "Process start"). Linked,
// libZydis and libZycore cost every `hyperlet run` ~20 page faults (~1 ms here).
#pragma once

#include <Zydis/Zydis.h>

#include "core/error.h"

namespace hyperlet {

// The Zydis functions syscall_sites.cpp uses, resolved from libZydis.so.4.0.
struct InstructionDecoder {
  decltype(&::ZydisDecoderInit) decoder_init;
  decltype(&::ZydisDecoderEnableMode) decoder_enable_mode;
  decltype(&::ZydisDecoderDecodeInstruction) decode_instruction;
};

// Loads Zydis once; the error names the library and the package to install.
Result<const InstructionDecoder*> instruction_decoder();

}  // namespace hyperlet
