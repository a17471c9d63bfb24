#include "core/message_prefix.h"

namespace hyperlet {
namespace {

// Namespace scope, not a function's static: initialised before main, so the
// seccomp report's signal handler never runs an initialisation guard.
std::string g_prefix = "hyperlet";

}  // namespace

void set_run_name(std::string_view name) {
  g_prefix = name.empty() ? "hyperlet" : "hyperlet[" + std::string(name) + "]";
}

const std::string& message_prefix() { return g_prefix; }

}  // namespace hyperlet
