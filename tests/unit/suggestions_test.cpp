#include "cli/suggestions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hyperlet {
namespace {

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("run", "run"), 0u);
  EXPECT_EQ(edit_distance("", "run"), 3u);
  EXPECT_EQ(edit_distance("run", ""), 3u);
  EXPECT_EQ(edit_distance("rn", "run"), 1u);
  EXPECT_EQ(edit_distance("runn", "run"), 1u);
  EXPECT_EQ(edit_distance("ran", "run"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(EditDistance, AnAdjacentSwapIsOneEdit) {
  EXPECT_EQ(edit_distance("--memroy", "--memory"), 1u);
  EXPECT_EQ(edit_distance("rnu", "run"), 1u);
  EXPECT_EQ(edit_distance("ab", "ba"), 1u);
}

TEST(EditDistance, IsSymmetric) {
  EXPECT_EQ(edit_distance("snapshot", "snpahsot"), edit_distance("snpahsot", "snapshot"));
  EXPECT_EQ(edit_distance("--volume", "--vlume"), edit_distance("--vlume", "--volume"));
}

const std::vector<std::string> kCommands = {"run", "snapshot", "inspect", "manifest", "bench"};

TEST(NearestWord, SuggestsTheClosestCandidate) {
  EXPECT_EQ(nearest_word("rnu", kCommands), "run");
  EXPECT_EQ(nearest_word("snapshto", kCommands), "snapshot");
  EXPECT_EQ(nearest_word("inspcet", kCommands), "inspect");
  EXPECT_EQ(nearest_word("--memroy", {"--memory", "--env", "--volume"}), "--memory");
  EXPECT_EQ(nearest_word("--hostnmae", {"--name", "--hostname"}), "--hostname");
}

TEST(NearestWord, NothingWhenNothingIsClose) {
  EXPECT_EQ(nearest_word("xyz", kCommands), std::nullopt);
  EXPECT_EQ(nearest_word("deploy", kCommands), std::nullopt);
  EXPECT_EQ(nearest_word("run", {}), std::nullopt);
}

TEST(NearestWord, LongerWordsMayCarryMoreEdits) {
  // 12 characters: up to 4 edits.
  EXPECT_EQ(nearest_word("--alow-conect", {"--allow-connect", "--env"}), "--allow-connect");
}

TEST(NearestWord, TiesGoToTheEarlierCandidate) { EXPECT_EQ(nearest_word("ab", {"aa", "bb"}), "aa"); }

}  // namespace
}  // namespace hyperlet
