// hyperlet-runc's state: ids, signals, the state JSON and status from a process.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "runc/container_state.h"
#include "runc/lifecycle.h"

namespace hyperlet::runc {
namespace {

TEST(RuncState, ContainerIds) {
  EXPECT_TRUE(check_container_id("abc-123_x.y+z"));
  EXPECT_FALSE(check_container_id(""));
  EXPECT_FALSE(check_container_id(".."));
  EXPECT_FALSE(check_container_id("a/b"));
  EXPECT_FALSE(check_container_id("a b"));
}

TEST(RuncState, Signals) {
  EXPECT_EQ(parse_signal("TERM").value(), SIGTERM);
  EXPECT_EQ(parse_signal("SIGKILL").value(), SIGKILL);
  EXPECT_EQ(parse_signal("15").value(), 15);
  EXPECT_EQ(parse_signal("9").value(), 9);
  EXPECT_FALSE(parse_signal("SIGNOPE"));
  EXPECT_FALSE(parse_signal("0"));
  EXPECT_FALSE(parse_signal(""));
}

TEST(RuncState, StateJsonHasTheSpecFields) {
  ContainerState state;
  state.id = "c1";
  state.pid = 42;
  state.bundle = "/b";
  state.rootfs = "/b/rootfs";
  state.created = "2026-12-01T00:00:00.000000000Z";
  state.annotations = {{"k", "v"}};
  const auto running = state_json(state, Status::kRunning);
  EXPECT_EQ(running["ociVersion"], kOciVersion);
  EXPECT_EQ(running["id"], "c1");
  EXPECT_EQ(running["status"], "running");
  EXPECT_EQ(running["pid"], 42);
  EXPECT_EQ(running["bundle"], "/b");
  EXPECT_EQ(running["annotations"]["k"], "v");
  EXPECT_EQ(state_json(state, Status::kStopped)["pid"], 0);
}

TEST(RuncState, StatusFollowsTheProcessAndTheFifo) {
  char root_template[] = "/tmp/runc-state-XXXXXX";
  const std::string root = ::mkdtemp(root_template);
  ContainerState state;
  state.id = "c";
  state.pid = ::getpid();
  state.pid_start_time = process_start_time(state.pid);
  ASSERT_NE(state.pid_start_time, 0u);
  EXPECT_EQ(container_status(root, state), Status::kRunning);
  state.pid_start_time += 1;  // the pid was reused by another process
  EXPECT_EQ(container_status(root, state), Status::kStopped);
  state.pid_start_time -= 1;
  ASSERT_EQ(::mkdir(container_dir(root, "c").c_str(), 0700), 0);
  ASSERT_TRUE(write_state(root, state));
  ASSERT_EQ(::mkfifo(exec_fifo_path(root, "c").c_str(), 0600), 0);
  EXPECT_EQ(container_status(root, state), Status::kCreated);
  auto read = read_state(root, "c");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->pid, state.pid);
  EXPECT_EQ(container_ids(root), std::vector<std::string>{"c"});
  EXPECT_EQ(read_state(root, "other").error().message, "container other does not exist");
  ::unlink(exec_fifo_path(root, "c").c_str());
  ::unlink((container_dir(root, "c") + "/state.json").c_str());
  ::rmdir(container_dir(root, "c").c_str());
  ::rmdir(root.c_str());
}

}  // namespace
}  // namespace hyperlet::runc
