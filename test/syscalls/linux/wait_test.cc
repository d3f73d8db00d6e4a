// Tests for wait4(2), waitpid(2) and waitid(2): statuses, options, stops and
// continues, SIGCHLD and automatic reaping.

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// ForkBlocked forks a child that blocks until *release_fd (the write end of a
// pipe the caller keeps) is closed or written, then exits with code.
pid_t ForkBlocked(int code, FileDescriptor* release) {
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << ErrnoName(errno);
    return -1;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[1]);
    char c;
    while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(code);
  }
  close(fds[0]);
  release->reset(fds[1]);
  EXPECT_THAT(pid, SyscallSucceeds());
  return pid;
}

// ForkPausing forks a child that pauses forever (until a signal kills it).
pid_t ForkPausing() {
  const pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  EXPECT_THAT(pid, SyscallSucceeds());
  return pid;
}

TEST(WaitTest, ExitStatusIsDecoded) {
  const pid_t pid = fork();
  if (pid == 0) {
    // Memory of its own, faulted in: a child that exits at once may have no
    // resident page at all (fork does not copy every page table entry).
    static volatile char touched[1 << 16];
    for (size_t i = 0; i < sizeof(touched); i += 4096) touched[i] = 1;
    _exit(42);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  struct rusage ru = {};
  ASSERT_THAT(wait4(pid, &status, 0, &ru), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_FALSE(WIFSIGNALED(status));
  EXPECT_FALSE(WIFSTOPPED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
  EXPECT_GT(ru.ru_maxrss, 0);
}

TEST(WaitTest, SignalStatusIsDecoded) {
  const pid_t pid = fork();
  if (pid == 0) {
    raise(SIGKILL);
    _exit(1);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(WIFEXITED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_FALSE(WCOREDUMP(status));
}

TEST(WaitTest, WnohangWithRunningChildReturnsZero) {
  FileDescriptor release;
  const pid_t pid = ForkBlocked(3, &release);
  ASSERT_GT(pid, 0);
  int status = -1;
  EXPECT_THAT(waitpid(pid, &status, WNOHANG), SyscallSucceedsWithValue(0));
  EXPECT_THAT(waitpid(-1, &status, WNOHANG), SyscallSucceedsWithValue(0));
  siginfo_t info = {};
  info.si_pid = 12345;
  EXPECT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOHANG), SyscallSucceeds());
  // waitid with WNOHANG and nothing to report zeroes si_pid.
  EXPECT_EQ(info.si_pid, 0);

  release.reset();
  EXPECT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(3));
}

TEST(WaitTest, NoChildrenIsECHILD) {
  EXPECT_THAT(InForkedProcess([] {
                // A fresh child has no children of its own.
                TEST_CHECK(wait(nullptr) == -1 && errno == ECHILD);
                TEST_CHECK(waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD);
                siginfo_t info;
                TEST_CHECK(waitid(P_ALL, 0, &info, WEXITED) == -1 && errno == ECHILD);
              }),
              ExitedWith(0));
  // A pid that exists but is not our child.
  EXPECT_THAT(waitpid(getppid(), nullptr, WNOHANG), SyscallFailsWithErrno(ECHILD));
  EXPECT_THAT(waitpid(getpid(), nullptr, WNOHANG), SyscallFailsWithErrno(ECHILD));
}

TEST(WaitTest, WaitpidForSpecificChildIgnoresOthers) {
  FileDescriptor release_a;
  const pid_t a = ForkBlocked(1, &release_a);
  ASSERT_GT(a, 0);
  const pid_t b = fork();
  if (b == 0) _exit(2);
  ASSERT_THAT(b, SyscallSucceeds());

  int status = 0;
  ASSERT_THAT(waitpid(b, &status, 0), SyscallSucceedsWithValue(b));
  EXPECT_THAT(status, ExitedWith(2));
  // a is still running.
  EXPECT_THAT(waitpid(a, &status, WNOHANG), SyscallSucceedsWithValue(0));
  EXPECT_THAT(waitpid(b, &status, WNOHANG), SyscallFailsWithErrno(ECHILD));
  release_a.reset();
  ASSERT_THAT(waitpid(a, &status, 0), SyscallSucceedsWithValue(a));
  EXPECT_THAT(status, ExitedWith(1));
}

TEST(WaitTest, WaitForProcessGroup) {
  const pid_t pid = fork();
  if (pid == 0) {
    TEST_PCHECK(setpgid(0, 0) == 0);
    _exit(5);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  // Set the group from this side too, so it is set whichever runs first.
  int ret = setpgid(pid, pid);
  EXPECT_TRUE(ret == 0 || errno == ESRCH || errno == EACCES) << ErrnoName(errno);
  int status = 0;
  EXPECT_THAT(waitpid(-pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(5));
}

TEST(WaitTest, WaitidReportsExitAndWnowaitLeavesZombie) {
  const pid_t pid = fork();
  if (pid == 0) _exit(7);
  ASSERT_THAT(pid, SyscallSucceeds());

  for (int i = 0; i < 2; i++) {
    siginfo_t info = {};
    ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), SyscallSucceeds());
    EXPECT_EQ(info.si_signo, SIGCHLD);
    EXPECT_EQ(info.si_pid, pid);
    EXPECT_EQ(info.si_uid, getuid());
    EXPECT_EQ(info.si_code, CLD_EXITED);
    EXPECT_EQ(info.si_status, 7);
  }
  // The zombie is still there: it can be signalled (with 0) and reaped.
  EXPECT_THAT(kill(pid, 0), SyscallSucceeds());
  int status = 0;
  EXPECT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(7));
  siginfo_t info;
  EXPECT_THAT(waitid(P_PID, pid, &info, WEXITED), SyscallFailsWithErrno(ECHILD));
}

TEST(WaitTest, WaitidReportsKill) {
  const pid_t pid = ForkPausing();
  ASSERT_GT(pid, 0);
  ASSERT_THAT(kill(pid, SIGTERM), SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED), SyscallSucceeds());
  EXPECT_EQ(info.si_pid, pid);
  EXPECT_EQ(info.si_code, CLD_KILLED);
  EXPECT_EQ(info.si_status, SIGTERM);
}

TEST(WaitTest, InvalidOptionsAreEINVAL) {
  EXPECT_THAT(waitpid(-1, nullptr, 0x40000), SyscallFailsWithErrno(EINVAL));
  siginfo_t info;
  // waitid needs at least one of WEXITED, WSTOPPED and WCONTINUED.
  EXPECT_THAT(waitid(P_ALL, 0, &info, WNOHANG), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(waitid(static_cast<idtype_t>(42), 0, &info, WEXITED),
              SyscallFailsWithErrno(EINVAL));
}

TEST(WaitTest, StoppedAndContinuedAreReported) {
  const pid_t pid = ForkPausing();
  ASSERT_GT(pid, 0);

  ASSERT_THAT(kill(pid, SIGSTOP), SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, WUNTRACED), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFSTOPPED(status)) << WaitStatusString(status);
  EXPECT_EQ(WSTOPSIG(status), SIGSTOP);
  // The stop is reported once.
  EXPECT_THAT(waitpid(pid, &status, WUNTRACED | WNOHANG), SyscallSucceedsWithValue(0));

  ASSERT_THAT(kill(pid, SIGCONT), SyscallSucceeds());
  ASSERT_THAT(waitpid(pid, &status, WCONTINUED), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFCONTINUED(status)) << WaitStatusString(status);

  // waitid sees the same events.
  ASSERT_THAT(kill(pid, SIGSTOP), SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WSTOPPED), SyscallSucceeds());
  EXPECT_EQ(info.si_code, CLD_STOPPED);
  EXPECT_EQ(info.si_status, SIGSTOP);
  ASSERT_THAT(kill(pid, SIGCONT), SyscallSucceeds());
  info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WCONTINUED), SyscallSucceeds());
  EXPECT_EQ(info.si_code, CLD_CONTINUED);
  EXPECT_EQ(info.si_status, SIGCONT);

  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, KilledBy(SIGKILL));
}

TEST(WaitTest, SigchldDeliveredOnChildExit) {
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &chld, &old_mask), SyscallSucceeds());

  const pid_t pid = fork();
  if (pid == 0) _exit(3);
  ASSERT_THAT(pid, SyscallSucceeds());

  siginfo_t info = {};
  const struct timespec timeout = {10, 0};
  EXPECT_THAT(sigtimedwait(&chld, &info, &timeout), SyscallSucceedsWithValue(SIGCHLD));
  EXPECT_EQ(info.si_signo, SIGCHLD);
  EXPECT_EQ(info.si_pid, pid);
  EXPECT_EQ(info.si_code, CLD_EXITED);
  EXPECT_EQ(info.si_status, 3);
  int status = 0;
  EXPECT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(3));
  EXPECT_THAT(sigprocmask(SIG_SETMASK, &old_mask, nullptr), SyscallSucceeds());
}

// AutoReaps checks, in a child that installs act for SIGCHLD, that a
// grandchild's exit leaves no zombie: wait blocks until the grandchild is
// gone and then fails with ECHILD.
void AutoReaps(const struct sigaction& act) {
  TEST_PCHECK(sigaction(SIGCHLD, &act, nullptr) == 0);
  const pid_t pid = fork();
  TEST_PCHECK(pid >= 0);
  if (pid == 0) _exit(9);
  int status = 0;
  TEST_CHECK(waitpid(pid, &status, 0) == -1);
  TEST_CHECK(errno == ECHILD);
  // Gone entirely, not a zombie.
  TEST_CHECK(kill(pid, 0) == -1 && errno == ESRCH);
}

TEST(WaitTest, SaNocldwaitReapsAutomatically) {
  EXPECT_THAT(InForkedProcess([] {
                struct sigaction act = {};
                act.sa_handler = SIG_DFL;
                act.sa_flags = SA_NOCLDWAIT;
                AutoReaps(act);
              }),
              ExitedWith(0));
}

TEST(WaitTest, IgnoredSigchldReapsAutomatically) {
  EXPECT_THAT(InForkedProcess([] {
                struct sigaction act = {};
                act.sa_handler = SIG_IGN;
                AutoReaps(act);
              }),
              ExitedWith(0));
}

TEST(WaitTest, DefaultSigchldLeavesZombie) {
  EXPECT_THAT(InForkedProcess([] {
                struct sigaction act = {};
                act.sa_handler = SIG_DFL;
                TEST_PCHECK(sigaction(SIGCHLD, &act, nullptr) == 0);
                const pid_t pid = fork();
                TEST_PCHECK(pid >= 0);
                if (pid == 0) _exit(9);
                siginfo_t info = {};
                TEST_PCHECK(waitid(P_PID, pid, &info, WEXITED | WNOWAIT) == 0);
                TEST_PCHECK(kill(pid, 0) == 0);  // A zombie.
                int status = 0;
                TEST_PCHECK(waitpid(pid, &status, 0) == pid);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 9);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
