// The app's environment from the command line as docker run takes it:
// --env KEY=VALUE, --env KEY (the host's value), --env-file FILE.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace hyperlet {

// The host's value of a variable, or nullopt when it is unset (getenv in hyperlet;
// a table in tests).
using HostEnvironment = std::function<std::optional<std::string>(const std::string& key)>;
HostEnvironment process_environment();

// Why KEY cannot name a variable, or nullopt when it can: empty, or holding whitespace.
std::optional<std::string> variable_name_problem(std::string_view key);

// One --env argument: KEY=VALUE as given, or KEY alone taking the host's value;
// nullopt when KEY is unset on the host (left out of the app's environment, as
// docker run does). A malformed argument is ExitStatus::kUsage.
Result<std::optional<std::string>> resolve_env_argument(std::string_view text, const HostEnvironment& host);

// The variables of an --env-file, in order: one KEY=VALUE or KEY per line, as
// --env takes them; the VALUE is the rest of the line, verbatim (no quotes,
// no expansion); blank lines and lines starting with '#' are skipped, leading
// whitespace ignored. A malformed line is an error naming `file_name` and the
// line's number.
Result<std::vector<std::string>> parse_env_file(std::string_view contents, std::string_view file_name,
                                                const HostEnvironment& host);

// Reads and parses FILE; a file that cannot be read is ExitStatus::kUsage.
Result<std::vector<std::string>> read_env_file(const std::string& path, const HostEnvironment& host);

}  // namespace hyperlet
