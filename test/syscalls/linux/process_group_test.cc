// Tests for process groups and sessions: getpgid(2), setpgid(2), getsid(2)
// and setsid(2).

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// ForkWaiting forks a child that runs fn and then waits until the write end
// of its pipe (returned in release) is closed.
pid_t ForkWaiting(const std::function<void()>& fn, FileDescriptor* release) {
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << ErrnoName(errno);
    return -1;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[1]);
    fn();
    char c;
    while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(fds[0]);
  release->reset(fds[1]);
  EXPECT_THAT(pid, SyscallSucceeds());
  return pid;
}

TEST(ProcessGroupTest, QueriesAgree) {
  // 0 is what Linux reports for a group or session whose leader lives in an
  // ancestor PID namespace (the test itself may run in a container).
  const pid_t pgrp = getpgrp();
  EXPECT_GE(pgrp, 0);
  EXPECT_THAT(getpgid(0), SyscallSucceedsWithValue(pgrp));
  EXPECT_THAT(getpgid(getpid()), SyscallSucceedsWithValue(pgrp));
  EXPECT_THAT(getsid(0), SyscallSucceedsWithValue(::testing::Ge(0)));
  EXPECT_THAT(getsid(getpid()), SyscallSucceedsWithValue(getsid(0)));
  EXPECT_THAT(getpgid(INT_MAX), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(getsid(INT_MAX), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(getpgid(-1), SyscallFailsWithErrno(ESRCH));
}

TEST(ProcessGroupTest, ChildInheritsGroupAndSession) {
  const pid_t pgrp = getpgrp();
  const pid_t sid = getsid(0);
  EXPECT_THAT(InForkedProcess([=] {
                TEST_CHECK(getpgrp() == pgrp);
                TEST_CHECK(getsid(0) == sid);
              }),
              ExitedWith(0));
}

TEST(ProcessGroupTest, SetpgidMakesANewGroup) {
  EXPECT_THAT(InForkedProcess([] {
                const pid_t old = getpgrp();
                TEST_CHECK(old != getpid());
                TEST_PCHECK(setpgid(0, 0) == 0);
                TEST_CHECK(getpgrp() == getpid());
                TEST_CHECK(getpgid(0) == getpid());
                // The session does not change.
                TEST_CHECK(getsid(0) == getsid(getppid()));
                // Back to the old group (it is in the same session).
                TEST_PCHECK(setpgid(0, old) == 0);
                TEST_CHECK(getpgrp() == old);
              }),
              ExitedWith(0));
}

TEST(ProcessGroupTest, ParentMovesChildIntoAGroup) {
  FileDescriptor release;
  const pid_t pid = ForkWaiting([] {}, &release);
  ASSERT_GT(pid, 0);
  ASSERT_THAT(setpgid(pid, pid), SyscallSucceeds());
  EXPECT_THAT(getpgid(pid), SyscallSucceedsWithValue(pid));
  // A second child can join that group.
  FileDescriptor release2;
  const pid_t pid2 = ForkWaiting([] {}, &release2);
  ASSERT_GT(pid2, 0);
  ASSERT_THAT(setpgid(pid2, pid), SyscallSucceeds());
  EXPECT_THAT(getpgid(pid2), SyscallSucceedsWithValue(pid));
  // Joining a group that does not exist in our session is refused.
  EXPECT_THAT(setpgid(pid2, INT_MAX - 1), SyscallFailsWithErrno(EPERM));
  release.reset();
  release2.reset();
  int status;
  EXPECT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(waitpid(pid2, &status, 0), SyscallSucceedsWithValue(pid2));
}

TEST(ProcessGroupTest, SetpgidErrors) {
  EXPECT_THAT(setpgid(0, -1), SyscallFailsWithErrno(EINVAL));
  // Not ourselves and not our child: our parent, as a child of ours sees it (our
  // own parent may not exist when the test runs as a PID namespace's init).
  EXPECT_THAT(InForkedProcess([] { TEST_CHECK(setpgid(getppid(), 0) == -1 && errno == ESRCH); }),
              ExitedWith(0));
  EXPECT_THAT(setpgid(INT_MAX, 0), SyscallFailsWithErrno(ESRCH));
}

TEST(SessionTest, SetsidMakesNewSessionAndGroup) {
  EXPECT_THAT(InForkedProcess([] {
                const pid_t old_sid = getsid(0);
                TEST_PCHECK(setsid() == getpid());
                TEST_CHECK(getsid(0) == getpid());
                TEST_CHECK(getsid(0) != old_sid);
                TEST_CHECK(getpgrp() == getpid());
                // A session leader (also a group leader) cannot do it again.
                TEST_CHECK(setsid() == -1 && errno == EPERM);
                // Nor can a session leader change its group.
                TEST_CHECK(setpgid(0, getppid()) == -1 && errno == EPERM);
              }),
              ExitedWith(0));
}

TEST(SessionTest, GroupLeaderCannotSetsid) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(setpgid(0, 0) == 0);
                TEST_CHECK(setsid() == -1 && errno == EPERM);
              }),
              ExitedWith(0));
}

TEST(SessionTest, ChildInAnotherSessionCannotBeMoved) {
  int ready[2];
  ASSERT_THAT(pipe(ready), SyscallSucceeds());
  FileDescriptor ready_r(ready[0]);
  FileDescriptor release;
  const pid_t pid = ForkWaiting(
      [&] {
        TEST_PCHECK(setsid() > 0);
        TEST_PCHECK(write(ready[1], "s", 1) == 1);
      },
      &release);
  ASSERT_GT(pid, 0);
  close(ready[1]);
  char c;
  ASSERT_THAT(read(ready_r.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(getsid(pid), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(setpgid(pid, getpgrp()), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(setpgid(pid, pid), SyscallFailsWithErrno(EPERM));
  release.reset();
  int status = 0;
  EXPECT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(0));
}

TEST(SessionTest, GrandchildStaysInTheNewSession) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(setsid() > 0);
                const pid_t sid = getpid();
                const pid_t child = fork();
                TEST_PCHECK(child >= 0);
                if (child == 0) {
                  _exit(getsid(0) == sid && getpgrp() == sid ? 0 : 1);
                }
                int status = 0;
                TEST_PCHECK(waitpid(child, &status, 0) == child);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
