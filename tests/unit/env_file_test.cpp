#include "cli/env_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace hyperlet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The host's environment as a table: HOME is set, nothing else.
HostEnvironment host_with_home() {
  return [](const std::string& key) -> std::optional<std::string> {
    static const std::map<std::string, std::string> variables = {{"HOME", "/home/user"}, {"EMPTY", ""}};
    auto found = variables.find(key);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

TEST(ResolveEnvArgument, KeyValueIsTakenAsGiven) {
  EXPECT_EQ(resolve_env_argument("A=b", host_with_home()).value(), "A=b");
  EXPECT_EQ(resolve_env_argument("A=", host_with_home()).value(), "A=");
  EXPECT_EQ(resolve_env_argument("A=b=c", host_with_home()).value(), "A=b=c");
  EXPECT_EQ(resolve_env_argument("HOME=/elsewhere", host_with_home()).value(), "HOME=/elsewhere");
}

TEST(ResolveEnvArgument, KeyAloneTakesTheHostsValue) {
  EXPECT_EQ(resolve_env_argument("HOME", host_with_home()).value(), "HOME=/home/user");
  EXPECT_EQ(resolve_env_argument("EMPTY", host_with_home()).value(), "EMPTY=");
}

TEST(ResolveEnvArgument, KeyUnsetOnTheHostIsLeftOut) {
  auto variable = resolve_env_argument("NOT_SET", host_with_home());
  ASSERT_TRUE(variable.has_value());
  EXPECT_EQ(*variable, std::nullopt);
}

TEST(ResolveEnvArgument, MalformedArgumentsAreUsageErrors) {
  for (const std::string& text :
       {std::string("=value"), std::string(), std::string("A B=c"), std::string("A=b\0c", 5)}) {
    auto variable = resolve_env_argument(text, host_with_home());
    ASSERT_FALSE(variable.has_value()) << text;
    EXPECT_EQ(variable.error().status, ExitStatus::kUsage);
    EXPECT_THAT(variable.error().message, HasSubstr("invalid --env"));
  }
}

TEST(ParseEnvFile, LinesInOrderWithCommentsAndBlankLinesSkipped) {
  const std::string contents =
      "# the service's settings\n"
      "GREETING=hello world\n"
      "\n"
      "   INDENTED=yes\n"
      "QUOTED=\"kept verbatim\"\n"
      "HOME\n"
      "NOT_SET\n"
      "TRAILING=space \n"
      "WINDOWS=crlf\r\n"
      "LAST=no newline";
  auto variables = parse_env_file(contents, "app.env", host_with_home());
  ASSERT_TRUE(variables.has_value()) << variables.error().message;
  EXPECT_THAT(*variables, ElementsAre("GREETING=hello world", "INDENTED=yes", "QUOTED=\"kept verbatim\"",
                                      "HOME=/home/user", "TRAILING=space ", "WINDOWS=crlf", "LAST=no newline"));
}

TEST(ParseEnvFile, EmptyFileHasNoVariables) {
  auto variables = parse_env_file("", "empty.env", host_with_home());
  ASSERT_TRUE(variables.has_value());
  EXPECT_THAT(*variables, IsEmpty());
}

TEST(ParseEnvFile, MalformedLineNamesFileAndLine) {
  auto variables = parse_env_file("A=1\n# comment\nexport B=2\n", "app.env", host_with_home());
  ASSERT_FALSE(variables.has_value());
  EXPECT_EQ(variables.error().status, ExitStatus::kUsage);
  EXPECT_EQ(variables.error().message,
            "invalid --env-file app.env line 3: the variable name contains whitespace: 'export B=2'");
}

TEST(ParseEnvFile, EmptyNameIsMalformed) {
  auto variables = parse_env_file("=value\n", "app.env", host_with_home());
  ASSERT_FALSE(variables.has_value());
  EXPECT_THAT(variables.error().message, HasSubstr("app.env line 1: the variable name is empty"));
}

TEST(ReadEnvFile, MissingFileIsUsageError) {
  auto variables = read_env_file("/nonexistent/app.env", host_with_home());
  ASSERT_FALSE(variables.has_value());
  EXPECT_EQ(variables.error().status, ExitStatus::kUsage);
  EXPECT_EQ(variables.error().message, "cannot read --env-file /nonexistent/app.env: No such file or directory");
}

}  // namespace
}  // namespace hyperlet
