// The names a run is given on the command line: --name (in hyperlet's messages)
// and --hostname (the app's uname nodename).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hyperlet {

// Why NAME cannot be a --name, or nullopt: as docker run's names, a letter or
// digit and then letters, digits, '_', '.', '-', at most 64 characters, so that
// "hyperlet[NAME]:" stays one unambiguous word in a log.
std::optional<std::string> run_name_problem(std::string_view name);

// Why NAME cannot be a --hostname, or nullopt: an RFC 1123 host name, labels of
// letters, digits and '-' (not at a label's ends) joined by '.', at most 64
// characters (what uname's nodename holds).
std::optional<std::string> hostname_problem(std::string_view name);

}  // namespace hyperlet
