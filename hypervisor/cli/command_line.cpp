#include "cli/command_line.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "cli/suggestions.h"

namespace hyperlet {
namespace {

// "--memory" of "--memory=64M"; "-m" of "-m64M" when -m is a known short option.
std::string option_name(const CLI::App& command, const std::string& word) {
  if (word.starts_with("--")) return word.substr(0, word.find('='));
  if (word.size() > 2 && command.get_option_no_throw(word.substr(0, 2)) != nullptr) return word.substr(0, 2);
  return word;
}

const CLI::Option* find_option(const CLI::App& command, const std::string& word) {
  return command.get_option_no_throw(option_name(command, word));
}

// The next word is this option's value: it takes one, and the word does not
// carry it already ("--memory=64M", "-m64M"). Asked of CLI11, so that the split
// and the parse cannot disagree.
bool takes_next_word(const CLI::App& command, const std::string& word) {
  const CLI::Option* option = find_option(command, word);
  if (option == nullptr || !option->nonpositional() || option->get_items_expected_min() == 0) return false;
  return option_name(command, word) == word;
}

bool is_option_word(const std::string& word) { return word.size() > 1 && word.starts_with("-"); }

std::vector<std::string> option_names(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
    for (const std::string& name : option->get_snames()) names.push_back("-" + name);
  }
  return names;
}

}  // namespace

SplitCommandLine split_app_arguments(const std::vector<const CLI::App*>& commands, int argc, char** argv) {
  SplitCommandLine split;
  split.ours.assign(argv, argv + argc);
  std::vector<std::string>& ours = split.ours;
  std::size_t index = 1;
  const CLI::App* command = nullptr;
  for (; index < ours.size() && command == nullptr; ++index) {
    if (!ours[index].starts_with("-")) {
      for (const CLI::App* candidate : commands) {
        if (candidate->get_name() == ours[index]) command = candidate;
      }
      if (command == nullptr) return split;  // another command: CLI11 parses it all
    }
  }
  if (command == nullptr) return split;
  bool ended_options = false;  // `run [OPTIONS] -- APP ...`: nothing after is hyperlet's
  for (; index < ours.size(); ++index) {
    const std::string& word = ours[index];
    if (word == "--") {
      ++index;
      ended_options = true;
      break;
    }
    if (!word.starts_with("-")) break;
    if (takes_next_word(*command, word)) ++index;
  }
  if (index >= ours.size()) return split;  // no APP: CLI11 reports it
  split.app_arguments.assign(ours.begin() + static_cast<std::ptrdiff_t>(index) + 1, ours.end());
  ours.erase(ours.begin() + static_cast<std::ptrdiff_t>(index) + 1, ours.end());
  split.arguments_given = !split.app_arguments.empty();
  if (!split.app_arguments.empty() && split.app_arguments.front() == "--") {
    // `APP -- ARGS`: the user said the rest is the app's, so nothing to warn about.
    split.app_arguments.erase(split.app_arguments.begin());
    return split;
  }
  if (ended_options) return split;
  for (const std::string& word : split.app_arguments) {
    if (word == "--") break;  // the app's own end of options
    // Long options only: short ones (-v, -p, -e...) are every app's flags too,
    // and --help after APP is almost always a request for the app's help.
    if (!word.starts_with("--") || word == "--help") continue;
    const std::string name = option_name(*command, word);
    if (command->get_option_no_throw(name) != nullptr) split.options_after_app.push_back(name);
  }
  return split;
}

const CLI::App* named_command(const CLI::App& app, int argc, char** argv) {
  if (argc < 2) return nullptr;
  for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (command->get_name() == argv[1]) return command;
  }
  return nullptr;
}

std::optional<std::string> command_word_problem(const CLI::App& app, int argc, char** argv) {
  const std::vector<std::string> words(argv + 1, argv + argc);
  const std::vector<const CLI::App*> commands = app.get_subcommands([](const CLI::App*) { return true; });
  std::vector<std::string> command_names;
  for (const CLI::App* command : commands) command_names.push_back(command->get_name());
  // A command's options written before the command: their words, values included.
  std::vector<std::string> misplaced;
  std::string first_misplaced;  // its name, "-m" of "-m64M"
  std::size_t index = 0;
  for (; index < words.size() && is_option_word(words[index]); ++index) {
    const std::string& word = words[index];
    if (word == "--") return std::nullopt;            // CLI11 says what it makes of that
    if (find_option(app, word) != nullptr) continue;  // hyperlet's own: --help, --version
    const CLI::App* owner = nullptr;
    for (const CLI::App* command : commands) {
      if (owner == nullptr && find_option(*command, word) != nullptr) owner = command;
    }
    if (owner == nullptr) {
      std::vector<std::string> known = option_names(app);
      for (const CLI::App* command : commands) {
        for (std::string& name : option_names(*command)) known.push_back(std::move(name));
      }
      const std::string typed = option_name(app, word);
      auto guess = typed.size() > 2 ? nearest_word(typed, known) : std::nullopt;
      return fmt::format("unknown option '{}'{}; a command's options go after the command (see hyperlet --help)", typed,
                         guess ? fmt::format(" (did you mean {}?)", *guess) : "");
    }
    if (misplaced.empty()) first_misplaced = option_name(*owner, word);
    misplaced.push_back(word);
    if (takes_next_word(*owner, word) && index + 1 < words.size()) misplaced.push_back(words[++index]);
  }
  if (index >= words.size()) return std::nullopt;  // no command: CLI11 says one is required
  const std::string& typed = words[index];
  if (std::find(command_names.begin(), command_names.end(), typed) == command_names.end()) {
    auto guess = nearest_word(typed, command_names);
    // `hyperlet ./app`: the word is a program, and `run` was left out.
    const bool looks_like_program = typed.find('/') != std::string::npos;
    return fmt::format("unknown command '{}'{}; the commands are {} (see hyperlet --help)", typed,
                       guess                ? fmt::format(" (did you mean {}?)", *guess)
                       : looks_like_program ? fmt::format(" (to run a program: hyperlet run {})", typed)
                                            : "",
                       fmt::join(command_names, ", "));
  }
  if (misplaced.empty()) return std::nullopt;
  std::vector<std::string> rewritten = {"hyperlet", typed};
  rewritten.insert(rewritten.end(), misplaced.begin(), misplaced.end());
  rewritten.insert(rewritten.end(), words.begin() + static_cast<std::ptrdiff_t>(index) + 1, words.end());
  return fmt::format(
      "{} is an option of `hyperlet {}` and must come after the command, before APP (hyperlet's own options "
      "are only --help and --version); write: {}",
      first_misplaced, typed, fmt::join(rewritten, " "));
}

std::string unknown_option_hint(const CLI::App& command, const std::vector<std::string>& words) {
  for (const std::string& word : words) {
    if (word == "--") break;
    if (!is_option_word(word) || find_option(command, word) != nullptr) continue;
    const std::string typed = option_name(command, word);
    // "-x" is one edit from every other short option: no guess is better than a random one.
    if (typed.size() <= 2) return "";
    auto guess = nearest_word(typed, option_names(command));
    return guess ? fmt::format(" (did you mean {}?)", *guess) : "";
  }
  return "";
}

std::string options_after_app_warning(const std::vector<std::string>& options) {
  return fmt::format(
      "warning: {} after APP {} the app's argument{}, not hyperlet's: hyperlet's options go before APP "
      "(write APP -- ARGS to pass them to the app without this warning)",
      fmt::join(options, ", "), options.size() == 1 ? "is" : "are", options.size() == 1 ? "" : "s");
}

}  // namespace hyperlet
