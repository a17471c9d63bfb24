#include "cli/env_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hyperlet {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// KEY=VALUE or KEY resolved against the host; the error is the reason alone.
std::expected<std::optional<std::string>, std::string> resolve(std::string_view text, const HostEnvironment& host) {
  // The app's environment is NUL-terminated strings: a NUL would cut the variable short.
  if (text.find('\0') != std::string_view::npos) return std::unexpected("it contains a NUL byte");
  const std::size_t equals = text.find('=');
  const std::string_view key = text.substr(0, equals);
  if (auto problem = variable_name_problem(key)) return std::unexpected(*problem);
  if (equals != std::string_view::npos) return std::optional<std::string>(std::string(text));
  auto value = host(std::string(key));
  if (!value) return std::optional<std::string>();
  return std::optional<std::string>(std::string(key) + "=" + *value);
}

}  // namespace

HostEnvironment process_environment() {
  return [](const std::string& key) -> std::optional<std::string> {
    const char* value = std::getenv(key.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::optional<std::string> variable_name_problem(std::string_view key) {
  if (key.empty()) return "the variable name is empty (expected KEY=VALUE or KEY)";
  for (char c : key) {
    if (is_space(c) || c == '\n') return "the variable name contains whitespace";
  }
  return std::nullopt;
}

Result<std::optional<std::string>> resolve_env_argument(std::string_view text, const HostEnvironment& host) {
  auto variable = resolve(text, host);
  if (!variable) return fail(ExitStatus::kUsage, "invalid --env '{}': {}", text, variable.error());
  return *variable;
}

Result<std::vector<std::string>> parse_env_file(std::string_view contents, std::string_view file_name,
                                                const HostEnvironment& host) {
  std::vector<std::string> variables;
  std::size_t line_number = 0;
  for (std::size_t start = 0; start < contents.size();) {
    const std::size_t newline = contents.find('\n', start);
    const std::size_t end = newline == std::string_view::npos ? contents.size() : newline;
    std::string_view line = contents.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.ends_with('\r')) line.remove_suffix(1);  // a file written on Windows
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    auto variable = resolve(line, host);
    if (!variable) {
      return fail(ExitStatus::kUsage, "invalid --env-file {} line {}: {}: '{}'", file_name, line_number,
                  variable.error(), line);
    }
    if (*variable) variables.push_back(std::move(**variable));
  }
  return variables;
}

Result<std::vector<std::string>> read_env_file(const std::string& path, const HostEnvironment& host) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return fail(ExitStatus::kUsage, "cannot read --env-file {}: {}", path, std::strerror(errno));
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return fail(ExitStatus::kUsage, "cannot read --env-file {}: {}", path, std::strerror(errno));
  return parse_env_file(contents.str(), path, host);
}

}  // namespace hyperlet
