#include "vm/kept_dirty_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace hyperlet {
namespace {

// A bitmap with the first `pages` bits set, spread over `words` words.
std::vector<std::uint64_t> written(std::uint64_t pages, std::size_t words = 64) {
  std::vector<std::uint64_t> bitmap(words, 0);
  for (std::uint64_t page = 0; page < pages; ++page) bitmap[page / 64] |= 1ull << (page % 64);
  return bitmap;
}

TEST(KeptDirtyPages, FewPagesStayWritableUntilTheSixtyFourthReset) {
  KeptDirtyPages kept;
  const auto thirteen = written(13);
  for (unsigned reset = 1; reset < KeptDirtyPages::kResetsBetweenProtections; ++reset) {
    EXPECT_FALSE(kept.protect_now(thirteen)) << "reset " << reset;
  }
  EXPECT_TRUE(kept.protect_now(thirteen));
  // The count starts again after a protection.
  EXPECT_FALSE(kept.protect_now(thirteen));
}

TEST(KeptDirtyPages, MoreThanTheLimitIsProtectedAtOnceAndRestartsTheCount) {
  KeptDirtyPages kept;
  EXPECT_FALSE(kept.protect_now(written(KeptDirtyPages::kMaxKeptPages)));
  EXPECT_TRUE(kept.protect_now(written(KeptDirtyPages::kMaxKeptPages + 1)));
  for (unsigned reset = 1; reset < KeptDirtyPages::kResetsBetweenProtections; ++reset) {
    EXPECT_FALSE(kept.protect_now(written(1))) << "reset " << reset;
  }
  EXPECT_TRUE(kept.protect_now(written(1)));
}

TEST(KeptDirtyPages, AnEmptyOrShortBitmapCountsAsNoPages) {
  KeptDirtyPages kept;
  EXPECT_FALSE(kept.protect_now({}));
  EXPECT_FALSE(kept.protect_now(std::vector<std::uint64_t>{~0ull}));  // 64 pages
}

}  // namespace
}  // namespace hyperlet
