// getpgrp, getpgid, setpgid, setsid and getsid (devices/process_groups.h),
// through the host syscall table as the guest kernel reaches it.
#include "devices/process_groups.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test_guest.h"

namespace hyperlet {
namespace {

class ProcessGroupsTest : public ::testing::Test, protected TestGuest {};

TEST_F(ProcessGroupsTest, TheFirstProcessLeadsGroupAndSessionOne) {
  EXPECT_EQ(call(SYS_getpgrp, {}), 1);
  EXPECT_EQ(call(SYS_getpgid, {0}), 1);
  EXPECT_EQ(call(SYS_getpgid, {1}), 1);
  EXPECT_EQ(call(SYS_getsid, {0}), 1);
  EXPECT_EQ(call(SYS_setsid, {}), -EPERM);       // a group leader
  EXPECT_EQ(call(SYS_setpgid, {0, 0}), -EPERM);  // a session leader keeps its group
  EXPECT_EQ(call(SYS_setpgid, {0, 1}), -EPERM);
}

TEST_F(ProcessGroupsTest, AForkedChildStartsASessionOfItsOwn) {
  context_->process_group = ProcessGroup{4242, 1, 1};  // as fork leaves it
  EXPECT_EQ(call(SYS_getpgrp, {}), 1);
  EXPECT_EQ(call(SYS_setsid, {}), 4242);
  EXPECT_EQ(call(SYS_getsid, {0}), 4242);
  EXPECT_EQ(call(SYS_getsid, {4242}), 4242);
  EXPECT_EQ(call(SYS_getpgrp, {}), 4242);
  EXPECT_EQ(call(SYS_setsid, {}), -EPERM);
}

TEST_F(ProcessGroupsTest, AChildMayLeadAGroupOfItsOwnButJoinNoOther) {
  context_->process_group = ProcessGroup{4242, 1, 1};
  EXPECT_EQ(call(SYS_setpgid, {0, 1}), 0);  // where it is already
  EXPECT_EQ(call(SYS_setpgid, {0, 777}), -EPERM);
  EXPECT_EQ(call(SYS_getpgrp, {}), 1);
  EXPECT_EQ(call(SYS_setpgid, {4242, 0}), 0);
  EXPECT_EQ(call(SYS_getpgrp, {}), 4242);
  EXPECT_EQ(call(SYS_setsid, {}), -EPERM);  // now a group leader
  EXPECT_EQ(call(SYS_getsid, {0}), 1);
}

TEST_F(ProcessGroupsTest, OtherProcessesAndHostileArgumentsAreRefused) {
  context_->process_group = ProcessGroup{4242, 1, 1};
  const pid_t parent = ::getpid();  // stands for the parent's hyperlet
  context_->children.set_parent(1, parent);
  EXPECT_EQ(call(SYS_getpgid, {1}), -ESRCH);  // the parent's group is its own VM's
  EXPECT_EQ(call(SYS_getsid, {1}), -ESRCH);
  EXPECT_EQ(call(SYS_getpgid, {static_cast<std::uint64_t>(-5)}), -ESRCH);
  EXPECT_EQ(call(SYS_getpgid, {99999}), -ESRCH);
  EXPECT_EQ(call(SYS_setpgid, {0, static_cast<std::uint64_t>(-1)}), -EINVAL);
  EXPECT_EQ(call(SYS_setpgid, {99999, 0}), -ESRCH);
  EXPECT_EQ(call(SYS_getpgrp, {}), 1);  // unchanged by any of it
}

}  // namespace
}  // namespace hyperlet
