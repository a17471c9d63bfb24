// Fuzz target: a hostile app image, from the file to guest memory, as `hyperlet
// run` and `hyperlet manifest` read it without KVM: the ELF and program headers,
// the toolchain's notes (manifest, syscall sites), the code map's tables
// (.eh_frame, symbols, Go's pclntab), the syscall-site analysis with Zydis, and
// load_app's copy of the segments into guest memory with the sites rewritten.
// The input is the whole file.
//
// Invariants beyond "no crash, no sanitizer report": every site the analysis
// returns lies inside its segment and is a `syscall` (0f 05), so the rewrite
// never changes bytes that are not one.
//
// HYPERLET_FUZZ_TRACE=1 prints how far each input got.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/unique_fd.h"
#include "fuzz_target.h"
#include "loader/app_image.h"
#include "loader/code_map.h"
#include "loader/instruction_decoder.h"
#include "loader/syscall_site_cache.h"
#include "loader/syscall_sites.h"
#include "memory/guest_layout.h"
#include "memory/guest_memory.h"

namespace hyperlet {
namespace {

constexpr std::uint64_t kGuestMemory = 64ull << 20;

void trace(const char* format, auto... values) {
  static const bool enabled = ::getenv("HYPERLET_FUZZ_TRACE") != nullptr;
  if (enabled) std::fprintf(stderr, format, values...);
}

void check_sites(const std::vector<CodeSegment>& code, const SiteTable& table) {
  if (table.size() > code.size()) fuzz::fuzz_failure("more site lists than code segments");
  for (std::size_t segment = 0; segment < table.size(); ++segment) {
    const auto bytes = code[segment].bytes;
    for (const std::uint64_t site : table[segment]) {
      if (site + 2 > bytes.size()) fuzz::fuzz_failure("a syscall site outside its segment");
      if (bytes[site] != std::byte{0x0f} || bytes[site + 1] != std::byte{0x05}) {
        fuzz::fuzz_failure("a syscall site that is not a syscall instruction");
      }
    }
  }
}

void analyse(const AppImage& image) {
  if (!image.read_code() || !image.read_data() || !image.read_code_map_tables()) return;
  const std::vector<CodeSegment> code = image.code_segments();
  const SiteTable table = find_syscall_sites(code, code_map_from_elf(image.bytes()), image.data_segments());
  std::size_t sites = 0;
  for (const auto& segment : table) sites += segment.size();
  trace("analysis: %zu code segments, %zu syscall sites\n", code.size(), sites);
  check_sites(code, table);
}

void load(const AppImage& image) {
  auto layout = compute_guest_layout(kGuestMemory, image.start(), image.end());
  if (!layout) return;
  auto memory = GuestMemory::create(layout->memory_size);
  if (!memory) return;
  const SyscallSiteCache no_cache(std::nullopt);
  auto loaded = load_app(*memory, image, &no_cache);
  trace("load: %s\n", loaded ? "loaded" : loaded.error().message.c_str());
}

}  // namespace
}  // namespace hyperlet

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hyperlet;
  if (!instruction_decoder()) fuzz::fuzz_failure("Zydis could not be loaded");
  // The image is read through a path, as `hyperlet run` reads it.
  UniqueFd file(::memfd_create("fuzz-image", MFD_CLOEXEC));
  if (!file.valid()) fuzz::fuzz_failure("memfd_create failed");
  for (std::size_t done = 0; done < size;) {
    const ssize_t wrote = ::write(file.get(), data + done, size - done);
    if (wrote <= 0) fuzz::fuzz_failure("writing the memfd failed");
    done += static_cast<std::size_t>(wrote);
  }
  auto image = AppImage::open("/proc/self/fd/" + std::to_string(file.get()));
  if (!image) {
    trace("open: %s\n", image.error().message.c_str());
    return 0;
  }
  analyse(*image);
  load(*image);
  return 0;
}
