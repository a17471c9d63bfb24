#include "vm/run_options.h"

#include <algorithm>

#include "loader/manifest.h"

namespace hyperlet {
namespace {

std::string_view key_of(std::string_view variable) { return variable.substr(0, variable.find('=')); }

}  // namespace

EffectiveRun apply_manifest(const RunOptions& options, const Manifest* manifest) {
  EffectiveRun run;
  run.memory_size = options.memory_size.value_or(
      manifest != nullptr && manifest->memory_size ? *manifest->memory_size : kDefaultGuestMemory);
  if (options.arguments_given || manifest == nullptr || !manifest->arguments) {
    run.arguments = options.arguments;
  } else {
    run.arguments = *manifest->arguments;
  }
  if (manifest != nullptr) run.environment = manifest->environment;
  for (const std::string& variable : options.environment) {
    auto same_key = std::find_if(run.environment.begin(), run.environment.end(),
                                 [&](const std::string& existing) { return key_of(existing) == key_of(variable); });
    if (same_key != run.environment.end()) {
      *same_key = variable;
    } else {
      run.environment.push_back(variable);
    }
  }
  return run;
}

}  // namespace hyperlet
