#include "cli/units.h"

#include <chrono>
#include <cstdint>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hyperlet {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr std::uint64_t kKiB = 1ull << 10;
constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

TEST(ParseSize, Suffixes) {
  EXPECT_EQ(parse_size("64M"), 64 * kMiB);
  EXPECT_EQ(parse_size("1G"), kGiB);
  EXPECT_EQ(parse_size("512k"), 512 * kKiB);
  EXPECT_EQ(parse_size("512K"), 512 * kKiB);
  EXPECT_EQ(parse_size("100"), 100u);
  EXPECT_EQ(parse_size("100b"), 100u);
  EXPECT_EQ(parse_size("1GiB"), kGiB);
  EXPECT_EQ(parse_size("2gib"), 2 * kGiB);
  EXPECT_EQ(parse_size("3MB"), 3 * kMiB);
  EXPECT_EQ(parse_size("4MiB"), 4 * kMiB);
  EXPECT_EQ(parse_size("8kb"), 8 * kKiB);
  EXPECT_EQ(parse_size("16G"), 16 * kGiB);
  EXPECT_EQ(parse_size("0"), 0u);
}

void expect_size_error(const std::string& text, const std::string& fragment) {
  const auto result = parse_size(text);
  ASSERT_FALSE(result.has_value()) << "'" << text << "' parsed as " << *result;
  EXPECT_THAT(result.error(), HasSubstr(fragment)) << text;
  EXPECT_THAT(result.error(), HasSubstr("'" + text + "'")) << text;
}

TEST(ParseSize, RejectsNonNumbers) {
  expect_size_error("", "is not a size");
  expect_size_error("M", "is not a size");
  expect_size_error("-1", "is not a size");
  expect_size_error("-1M", "is not a size");
  expect_size_error(" 64M", "is not a size");
  expect_size_error("abc", "is not a size");
}

TEST(ParseSize, RejectsUnknownUnits) {
  expect_size_error("12X", "has an unknown unit");
  expect_size_error("64 M", "has an unknown unit");
  expect_size_error("1T", "has an unknown unit");
  expect_size_error("64MM", "has an unknown unit");
  expect_size_error("64Mi", "has an unknown unit");
}

TEST(ParseSize, DecimalFractions) {
  EXPECT_EQ(parse_size("1.5G"), 1536 * kMiB);
  EXPECT_EQ(parse_size("0.5g"), 512 * kMiB);
  EXPECT_EQ(parse_size("1.25GiB"), 1280 * kMiB);
  EXPECT_EQ(parse_size("2.0M"), 2 * kMiB);
  EXPECT_EQ(parse_size("1.5M"), 1536 * kKiB);  // whole bytes: the caller judges 2M multiples
}

TEST(ParseSize, RejectsFractionsThatAreNotWholeBytes) {
  expect_size_error("1.3G", "is not a whole number of bytes");
  expect_size_error("0.1K", "is not a whole number of bytes");
  expect_size_error("1.5", "is not a whole number of bytes");
  expect_size_error("1.", "is not a size");
  expect_size_error("1.x", "is not a size");
  expect_size_error(".5G", "is not a size");
  expect_size_error("1.0000000001G", "more than 9 decimals");
}

TEST(ParseSize, RejectsOverflow) {
  expect_size_error("99999999999999999999", "is not a size");  // > 2^64
  expect_size_error("17179869184G", "is too large");           // 2^34 GiB = 2^64
  EXPECT_EQ(parse_size("17179869183G"), 17179869183ull * kGiB);
  EXPECT_EQ(parse_size("18446744073709551615"), ~0ull);
  expect_size_error("18014398509481984K", "is too large");      // 2^54 KiB
  expect_size_error("17179869183.5G", "is too large");          // the fraction tips it over
  EXPECT_EQ(parse_size("17179869182.5G"), 17179869182ull * kGiB + kGiB / 2);
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("2s"), 2s);
  EXPECT_EQ(parse_duration("1m"), 1min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("250us"), 250us);
  EXPECT_EQ(parse_duration("10ns"), 10ns);
  EXPECT_EQ(parse_duration("1.5"), 1500ms);
  EXPECT_EQ(parse_duration("2"), 2s);
  EXPECT_EQ(parse_duration("0.25s"), 250ms);
  EXPECT_EQ(parse_duration("2S"), 2s);
  EXPECT_EQ(parse_duration("1MS"), 1ms);
}

void expect_duration_error(const std::string& text, const std::string& fragment) {
  const auto result = parse_duration(text);
  ASSERT_FALSE(result.has_value()) << "'" << text << "' parsed as " << result->count() << "ns";
  EXPECT_THAT(result.error(), HasSubstr(fragment)) << text;
}

TEST(ParseDuration, RejectsNonPositive) {
  expect_duration_error("0", "must be positive");
  expect_duration_error("0s", "must be positive");
  expect_duration_error("-1s", "must be positive");
  expect_duration_error("0.1ns", "must be positive");
}

TEST(ParseDuration, RejectsGarbage) {
  expect_duration_error("", "is not a duration");
  expect_duration_error("abc", "is not a duration");
  expect_duration_error("s", "is not a duration");
  expect_duration_error("inf", "is not a duration");
  expect_duration_error("nan", "is not a duration");
  expect_duration_error("5 parsecs", "has an unknown unit");
  expect_duration_error("5d", "has an unknown unit");
  expect_duration_error("5sec", "has an unknown unit");
}

TEST(ParseDuration, RejectsTooLong) {
  expect_duration_error("1e10s", "is too long");
  expect_duration_error("1e300", "is too long");
  EXPECT_EQ(parse_duration("1e9s"), std::chrono::nanoseconds(1'000'000'000'000'000'000));
}

TEST(ParseCpuCount, WholeNumbersFromOneToTheLimit) {
  EXPECT_EQ(parse_cpu_count("1", 4), 1u);
  EXPECT_EQ(parse_cpu_count("4", 4), 4u);
  EXPECT_EQ(parse_cpu_count("02", 4), 2u);
}

TEST(ParseCpuCount, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(parse_cpu_count("0", 4).error(), "0: a VM needs at least 1 vCPU");
  EXPECT_EQ(parse_cpu_count("5", 4).error(), "5: at most 4 here (the host's CPUs, and at most 16 per VM)");
  EXPECT_EQ(parse_cpu_count("99999999999999999999", 4).error(),
            "99999999999999999999: at most 4 here (the host's CPUs, and at most 16 per VM)");
  EXPECT_EQ(parse_cpu_count("two", 4).error(), "'two': not a whole number of vCPUs (e.g. --cpus 2)");
  EXPECT_EQ(parse_cpu_count("-1", 4).error(), "'-1': not a whole number of vCPUs (e.g. --cpus 2)");
  EXPECT_EQ(parse_cpu_count("2.5", 4).error(), "'2.5': not a whole number of vCPUs (e.g. --cpus 2)");
  EXPECT_EQ(parse_cpu_count("", 4).error(), "'': give a number of vCPUs, e.g. --cpus 2");
}

}  // namespace
}  // namespace hyperlet
