#include "loader/instruction_decoder.h"

#include "core/shared_library.h"

namespace hyperlet {

namespace {

constexpr char kLibrary[] = "libZydis.so.4.0";  // its SONAME (Debian: libzydis4.0)

Result<InstructionDecoder> load() {
  auto library = SharedLibrary::open(kLibrary, "to find the image's syscall sites",
                                     "install libzydis4.0, or give the image a manifest with `hyperlet manifest`");
  if (!library) return std::unexpected(library.error());
  InstructionDecoder decoder{};
  library->resolve(decoder.decoder_init, "ZydisDecoderInit");
  library->resolve(decoder.decoder_enable_mode, "ZydisDecoderEnableMode");
  library->resolve(decoder.decode_instruction, "ZydisDecoderDecodeInstruction");
  if (auto ok = library->finish("not Zydis 4"); !ok) return std::unexpected(ok.error());
  return decoder;
}

}  // namespace

Result<const InstructionDecoder*> instruction_decoder() {
  static const Result<InstructionDecoder> decoder = load();
  if (!decoder) return std::unexpected(decoder.error());
  return &*decoder;
}

}  // namespace hyperlet
