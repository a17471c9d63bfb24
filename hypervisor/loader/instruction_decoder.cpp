#include "loader/instruction_decoder.h"

#include <dlfcn.h>

#include <type_traits>

namespace hyperlet {

namespace {

constexpr char kLibrary[] = "libZydis.so.4.0";  // its SONAME (Debian: libzydis4.0)

Result<InstructionDecoder> load() {
  void* handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return fail(ExitStatus::kUsage,
                "cannot load {} to find the image's syscall sites: {} (install libzydis4.0, or give the image a "
                "manifest with `hyperlet manifest`)",
                kLibrary, ::dlerror());
  }
  InstructionDecoder decoder{};
  std::string missing;
  auto resolve = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(::dlsym(handle, name));
    if (function == nullptr) missing = name;
  };
  resolve(decoder.decoder_init, "ZydisDecoderInit");
  resolve(decoder.decoder_enable_mode, "ZydisDecoderEnableMode");
  resolve(decoder.decode_instruction, "ZydisDecoderDecodeInstruction");
  if (!missing.empty()) return fail(ExitStatus::kUsage, "{} has no {}: not Zydis 4", kLibrary, missing);
  return decoder;
}

}  // namespace

Result<const InstructionDecoder*> instruction_decoder() {
  static const Result<InstructionDecoder> decoder = load();
  if (!decoder) return std::unexpected(decoder.error());
  return &*decoder;
}

}  // namespace hyperlet
