// "Did you mean": the nearest known word to a misspelt option or subcommand.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hyperlet {

// Edits (insert, delete, substitute one character, or swap two adjacent ones)
// that turn `from` into `to`: the optimal string alignment distance, so that
// "--memroy" is one edit from "--memory", as a typing slip is.
std::size_t edit_distance(std::string_view from, std::string_view to);

// The candidate closest to `typed`, if it is close enough to be what was meant:
// at most 2 edits, or a third of the word for longer words. Ties go to the
// earlier candidate.
std::optional<std::string> nearest_word(std::string_view typed, const std::vector<std::string>& candidates);

}  // namespace hyperlet
