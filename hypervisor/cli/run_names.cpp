#include "cli/run_names.h"

#include <cctype>

namespace hyperlet {
namespace {

constexpr std::size_t kMaxNameLength = 64;

bool is_alphanumeric(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::optional<std::string> run_name_problem(std::string_view name) {
  if (name.empty()) return "the name is empty";
  if (name.size() > kMaxNameLength) return "longer than 64 characters";
  if (!is_alphanumeric(name.front())) return "must start with a letter or digit";
  for (char c : name) {
    if (!is_alphanumeric(c) && c != '_' && c != '.' && c != '-') return "use only letters, digits, '_', '.' and '-'";
  }
  return std::nullopt;
}

std::optional<std::string> hostname_problem(std::string_view name) {
  if (name.empty()) return "the host name is empty";
  if (name.size() > kMaxNameLength) return "longer than 64 characters (what uname's nodename holds)";
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '.') {
      if (!is_alphanumeric(name[i]) && name[i] != '-') return "use only letters, digits, '-' and '.'";
      continue;
    }
    const std::string_view label = name.substr(label_start, i - label_start);
    if (label.empty()) return "an empty label (two dots, or a dot at an end)";
    if (label.front() == '-' || label.back() == '-') return "a label starts or ends with '-'";
    label_start = i + 1;
  }
  return std::nullopt;
}

}  // namespace hyperlet
