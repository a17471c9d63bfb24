#include "cli/suggestions.h"

#include <algorithm>

namespace hyperlet {

std::size_t edit_distance(std::string_view from, std::string_view to) {
  // Three rows of the dynamic-programming table: the swap looks two rows back.
  const std::size_t columns = to.size() + 1;
  std::vector<std::size_t> two_back(columns), previous(columns), current(columns);
  for (std::size_t j = 0; j < columns; ++j) previous[j] = j;
  for (std::size_t i = 1; i <= from.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j < columns; ++j) {
      const std::size_t substitution = from[i - 1] == to[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution});
      if (i > 1 && j > 1 && from[i - 1] == to[j - 2] && from[i - 2] == to[j - 1]) {
        current[j] = std::min(current[j], two_back[j - 2] + 1);
      }
    }
    std::swap(two_back, previous);
    std::swap(previous, current);
  }
  return previous[to.size()];
}

std::optional<std::string> nearest_word(std::string_view typed, const std::vector<std::string>& candidates) {
  // Two edits catch most slips; longer words may carry more before a guess
  // stops being a better answer than none.
  const std::size_t allowed = std::max<std::size_t>(2, typed.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = allowed + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t distance = edit_distance(typed, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace hyperlet
