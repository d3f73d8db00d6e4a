// Tests for the credential queries getuid(2), getresuid(2), getgroups(2) and
// friends, and for no-op and root-only changes of them (made in forked
// children, so the test process keeps its identity).

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

TEST(IdentityTest, UidQueriesAgree) {
  uid_t r = -1, e = -1, s = -1;
  ASSERT_THAT(getresuid(&r, &e, &s), SyscallSucceeds());
  EXPECT_EQ(getuid(), r);
  EXPECT_EQ(geteuid(), e);
  EXPECT_EQ(syscall(SYS_getuid), static_cast<long>(r));
  EXPECT_EQ(syscall(SYS_geteuid), static_cast<long>(e));
  // Nothing in the test runs setuid programs: all three are the same.
  EXPECT_EQ(r, e);
  EXPECT_EQ(e, s);
}

TEST(IdentityTest, GidQueriesAgree) {
  gid_t r = -1, e = -1, s = -1;
  ASSERT_THAT(getresgid(&r, &e, &s), SyscallSucceeds());
  EXPECT_EQ(getgid(), r);
  EXPECT_EQ(getegid(), e);
  EXPECT_EQ(syscall(SYS_getgid), static_cast<long>(r));
  EXPECT_EQ(syscall(SYS_getegid), static_cast<long>(e));
  EXPECT_EQ(r, e);
  EXPECT_EQ(e, s);
}

TEST(IdentityTest, GetresuidFaultsOnBadPointer) {
  uid_t u;
  EXPECT_THAT(syscall(SYS_getresuid, &u, &u, reinterpret_cast<uid_t*>(8)),
              SyscallFailsWithErrno(EFAULT));
  gid_t g;
  EXPECT_THAT(syscall(SYS_getresgid, reinterpret_cast<gid_t*>(8), &g, &g),
              SyscallFailsWithErrno(EFAULT));
}

TEST(IdentityTest, GetgroupsSizeQueryAndErrors) {
  const int n = getgroups(0, nullptr);
  ASSERT_THAT(n, SyscallSucceedsWithValue(::testing::Ge(0)));
  std::vector<gid_t> groups(n + 1);
  EXPECT_THAT(getgroups(n + 1, groups.data()), SyscallSucceedsWithValue(n));
  if (n > 0) {
    EXPECT_THAT(getgroups(n - 1, groups.data()), SyscallFailsWithErrno(EINVAL));
  }
  EXPECT_THAT(getgroups(-1, groups.data()), SyscallFailsWithErrno(EINVAL));
}

TEST(IdentityTest, SettingToCurrentValuesIsANoOp) {
  EXPECT_THAT(setresuid(-1, -1, -1), SyscallSucceeds());
  EXPECT_THAT(setresgid(-1, -1, -1), SyscallSucceeds());
  EXPECT_THAT(setreuid(-1, -1), SyscallSucceeds());
  // Setting the effective uid to the current one is always allowed.
  EXPECT_THAT(seteuid(geteuid()), SyscallSucceeds());
  EXPECT_THAT(setegid(getegid()), SyscallSucceeds());
  uid_t r, e, s;
  ASSERT_THAT(getresuid(&r, &e, &s), SyscallSucceeds());
  EXPECT_EQ(r, getuid());
  EXPECT_EQ(e, getuid());
}

TEST(IdentityTest, SetfsuidReturnsThePreviousValue) {
  // The fsuid follows the euid; setfsuid(-1) only queries (an invalid id).
  EXPECT_EQ(setfsuid(-1), static_cast<int>(geteuid()));
  EXPECT_EQ(setfsgid(-1), static_cast<int>(getegid()));
}

TEST(IdentityTest, ForkedChildHasTheSameIds) {
  const uid_t uid = getuid();
  const gid_t gid = getgid();
  const int ngroups = getgroups(0, nullptr);
  EXPECT_THAT(InForkedProcess([=] {
                TEST_CHECK(getuid() == uid && geteuid() == uid);
                TEST_CHECK(getgid() == gid && getegid() == gid);
                TEST_CHECK(getgroups(0, nullptr) == ngroups);
              }),
              ExitedWith(0));
}

TEST(IdentityTest, RootSetsSupplementaryGroups) {
  if (geteuid() != 0) GTEST_SKIP() << "setgroups needs CAP_SETGID; not running as root";
  EXPECT_THAT(InForkedProcess([] {
                const gid_t want[] = {5, 7, 9};
                TEST_PCHECK(setgroups(3, want) == 0);
                gid_t got[8] = {};
                TEST_PCHECK(getgroups(8, got) == 3);
                TEST_CHECK(got[0] == 5 && got[1] == 7 && got[2] == 9);
                TEST_PCHECK(setgroups(0, nullptr) == 0);
                TEST_PCHECK(getgroups(0, nullptr) == 0);
                // More than NGROUPS_MAX is refused.
                static gid_t too_many[NGROUPS_MAX + 1];
                TEST_CHECK(setgroups(NGROUPS_MAX + 1, too_many) == -1 && errno == EINVAL);
              }),
              ExitedWith(0));
}

TEST(IdentityTest, RootSetsGidsAndTheyAreReported) {
  if (geteuid() != 0) GTEST_SKIP() << "setresgid to other ids needs CAP_SETGID";
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(setresgid(100, 200, 300) == 0);
                gid_t r, e, s;
                TEST_PCHECK(getresgid(&r, &e, &s) == 0);
                TEST_CHECK(r == 100 && e == 200 && s == 300);
                TEST_CHECK(getgid() == 100 && getegid() == 200);
                // The fsgid followed the egid.
                TEST_CHECK(setfsgid(-1) == 200);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
