#include "cli/run_names.h"

#include <gtest/gtest.h>

#include <string>

namespace hyperlet {
namespace {

TEST(RunNameProblem, DockerStyleNamesAreFine) {
  for (const std::string& name : {std::string("web"), std::string("web-1"), std::string("api_v2"),
                                  std::string("db.primary"), std::string("0"), std::string(64, 'a')}) {
    EXPECT_EQ(run_name_problem(name), std::nullopt) << name;
  }
}

TEST(RunNameProblem, RefusesWhatWouldBlurTheMessagePrefix) {
  EXPECT_NE(run_name_problem(""), std::nullopt);
  EXPECT_NE(run_name_problem("-web"), std::nullopt);
  EXPECT_NE(run_name_problem("my web"), std::nullopt);
  EXPECT_NE(run_name_problem("web]: x"), std::nullopt);
  EXPECT_NE(run_name_problem(std::string(65, 'a')), std::nullopt);
}

TEST(HostnameProblem, HostNamesAreFine) {
  for (const std::string& name : {std::string("web"), std::string("web-1"), std::string("api.example.com"),
                                  std::string("a"), std::string("0abc"), std::string(64, 'h')}) {
    EXPECT_EQ(hostname_problem(name), std::nullopt) << name;
  }
}

TEST(HostnameProblem, RefusesWhatIsNoHostName) {
  EXPECT_EQ(hostname_problem(""), "the host name is empty");
  EXPECT_EQ(hostname_problem(std::string(65, 'h')), "longer than 64 characters (what uname's nodename holds)");
  EXPECT_EQ(hostname_problem("web_1"), "use only letters, digits, '-' and '.'");
  EXPECT_EQ(hostname_problem("my host"), "use only letters, digits, '-' and '.'");
  EXPECT_EQ(hostname_problem("a..b"), "an empty label (two dots, or a dot at an end)");
  EXPECT_EQ(hostname_problem(".a"), "an empty label (two dots, or a dot at an end)");
  EXPECT_EQ(hostname_problem("a."), "an empty label (two dots, or a dot at an end)");
  EXPECT_EQ(hostname_problem("-a"), "a label starts or ends with '-'");
  EXPECT_EQ(hostname_problem("a.b-"), "a label starts or ends with '-'");
}

}  // namespace
}  // namespace hyperlet
