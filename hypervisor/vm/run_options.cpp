#include "vm/run_options.h"

#include <algorithm>

#include "loader/manifest.h"

namespace hyperlet {
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
  for (const std::string& variable : options.environment) set_variable(run.environment, variable);
  return run;
}

}  // namespace hyperlet
