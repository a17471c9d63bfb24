// Fuzz target: an OCI bundle's config.json as hyperlet-runc maps it to a
// `hyperlet run` command line (oci/bundle_config.h), cgroup limits included.
// A container engine writes it from an image and a pod spec that users
// control. The input is the file's text; the host's files are answered by
// stubs (every program found, every path a directory or a file by its name).
//
// Invariant beyond "no crash, no sanitizer report, no escaping exception": a
// mapping that succeeds writes its options as flag/value pairs of the flags it
// knows, so no field of config.json can slip in an option of its own (a value
// is always the one after its flag, whatever it looks like), and every volume
// it writes is one `hyperlet run` reads as the mapping meant it (a ':' in a
// path would move the split between host and guest path).
//
// HYPERLET_FUZZ_TRACE=1 prints each mapping's options or its refusal.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "devices/volumes.h"
#include "fuzz_target.h"
#include "oci/bundle_config.h"

namespace hyperlet {
namespace {

bool any_program(const std::string&, const std::string&) { return true; }
bool named_like_a_directory(const std::string& path) { return !path.empty() && path.back() == '/'; }
bool named_like_a_file(const std::string& path) { return !named_like_a_directory(path); }
unsigned two_cpus() { return 2; }

}  // namespace
}  // namespace hyperlet

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hyperlet;
  const auto config = nlohmann::json::parse(data, data + size, nullptr, false);
  if (config.is_discarded()) return 0;
  for (bool console : {false, true}) {
    auto run = oci::map_bundle_config(config, "/bundles/fuzz", console,
                                      {any_program, named_like_a_directory, named_like_a_file, two_cpus});
    static const bool trace = ::getenv("HYPERLET_FUZZ_TRACE") != nullptr;
    if (trace) {
      std::fprintf(
          stderr, "%s\n",
          run ? fmt::format("options: {}", fmt::join(run->options, " ")).c_str() : run.error().message.c_str());
    }
    if (!run) continue;
    static const std::set<std::string> kFlags = {"--allow-connect", "--cpus",    "--env",    "--hostname",
                                                 "--memory",        "--publish", "--volume", "--workdir"};
    if (run->options.size() % 2 != 0) fuzz::fuzz_failure("an option without its value");
    for (std::size_t i = 0; i < run->options.size(); i += 2) {
      if (!kFlags.contains(run->options[i])) {
        fuzz::fuzz_failure("an option the mapping does not write: " + run->options[i]);
      }
      if (run->options[i] == "--volume" && !parse_volume_spec(run->options[i + 1])) {
        fuzz::fuzz_failure("a volume `hyperlet run` cannot read: " + run->options[i + 1]);
      }
    }
  }
  return 0;
}
