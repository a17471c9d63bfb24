// What hyperlet's own stderr lines start with: "hyperlet", or "hyperlet[NAME]"
// after `--name NAME`, so that the lines of several runs sharing a terminal or a
// log say which run they are about.
#pragma once

#include <string>
#include <string_view>

namespace hyperlet {

// Set once, at start-up, before any other thread or signal handler could read it.
void set_run_name(std::string_view name);

// "hyperlet" or "hyperlet[NAME]", without the colon. The string never changes
// after set_run_name, so a signal handler may write its c_str().
const std::string& message_prefix();

}  // namespace hyperlet
