// The command line before CLI11 parses it: where APP's own arguments start, and
// the mistakes CLI11 would report without saying what was meant (a misspelt
// command or option, hyperlet's options written before the command or after APP).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace hyperlet {

struct SplitCommandLine {
  std::vector<std::string> ours;           // argv up to and including APP, for CLI11
  std::vector<std::string> app_arguments;  // argv[1..] of the app
  bool arguments_given = false;            // anything after APP, even a lone "--"
  // hyperlet's own long options found among the app's arguments (before any "--"
  // of theirs; none when a "--" just before or after APP said the rest is the
  // app's): they stay the app's, and earn a warning.
  std::vector<std::string> options_after_app;
};

// The command argv[1] names, or nullptr: --help, --help-all, --version, a
// misspelt command, or a command's option written before it. main() builds the
// options of the named command only, and every command's otherwise (for the
// help, and for command_word_problem to say whose option a word is): each `run`
// is a new process, and building every command's options took 38 of its ~160
// page faults to /dev/kvm, ~1 ms on a nested host (docs/PERFORMANCE.md).
const CLI::App* named_command(const CLI::App& app, int argc, char** argv);

// Everything after APP belongs to the app, even words that look like hyperlet's
// options, so the split happens before CLI11 sees the command line. `commands`
// are the ones that take an APP (run, snapshot).
SplitCommandLine split_app_arguments(const std::vector<const CLI::App*>& commands, int argc, char** argv);

// A misspelt or unknown command, or one of a command's options written before
// the command (`hyperlet --memory 64M run APP`): the one line that says so and
// what to write instead; nullopt when the words before the command are fine.
std::optional<std::string> command_word_problem(const CLI::App& app, int argc, char** argv);

// " (did you mean --memory?)" for the first option among `words` (the words
// after the command's name) that `command` does not know; "" when there is none
// or nothing is near it.
std::string unknown_option_hint(const CLI::App& command, const std::vector<std::string>& words);

// The warning for options_after_app, one line without the "hyperlet: " prefix.
std::string options_after_app_warning(const std::vector<std::string>& options);

}  // namespace hyperlet
