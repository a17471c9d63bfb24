// How many arguments --trace prints per syscall (vm/syscall_arity.cpp).
#include "vm/syscall_arity.h"

#include <sys/syscall.h>

#include <gtest/gtest.h>

#include "devices/syscall_names.h"

namespace hyperlet {
namespace {

TEST(SyscallArity, CommonSyscalls) {
  EXPECT_EQ(syscall_arity(SYS_read), 3);
  EXPECT_EQ(syscall_arity(SYS_getpid), 0);
  EXPECT_EQ(syscall_arity(SYS_mmap), 6);
  EXPECT_FALSE(syscall_arity(100000).has_value());
}

TEST(SyscallArity, FilesAndSocketsServedOnTheHost) {
  EXPECT_EQ(syscall_arity(SYS_statfs), 2);
  EXPECT_EQ(syscall_arity(SYS_fstatfs), 2);
  EXPECT_EQ(syscall_arity(SYS_chown), 3);
  EXPECT_EQ(syscall_arity(SYS_fchown), 3);
  EXPECT_EQ(syscall_arity(SYS_lchown), 3);
  EXPECT_EQ(syscall_arity(SYS_fchownat), 5);
  EXPECT_EQ(syscall_arity(SYS_copy_file_range), 6);
  EXPECT_EQ(syscall_arity(SYS_socketpair), 4);
  EXPECT_EQ(syscall_arity(SYS_sendmmsg), 4);
  EXPECT_EQ(syscall_arity(SYS_recvmmsg), 5);
  for (const auto& [number, name] :
       {std::pair{SYS_statfs, "statfs"}, std::pair{SYS_fchownat, "fchownat"},
        std::pair{SYS_copy_file_range, "copy_file_range"}, std::pair{SYS_socketpair, "socketpair"},
        std::pair{SYS_recvmmsg, "recvmmsg"}}) {
    EXPECT_EQ(syscall_name(number), name);
  }
}

}  // namespace
}  // namespace hyperlet
