// Tests for exit(2), exit_group(2) and what happens to a process's children
// and resources when it exits.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
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

TEST(ExitTest, ExitCodeIsTruncatedToEightBits) {
  EXPECT_THAT(InForkedProcess([] { _exit(256 + 5); }), ExitedWith(5));
  EXPECT_THAT(InForkedProcess([] { _exit(255); }), ExitedWith(255));
  EXPECT_THAT(InForkedProcess([] { _exit(-1); }), ExitedWith(255));
}

TEST(ExitTest, RawExitGroupAndExitSyscalls) {
  EXPECT_THAT(InForkedProcess([] { syscall(SYS_exit_group, 9); }), ExitedWith(9));
  // In a single-threaded process, exit is the end of the process too.
  EXPECT_THAT(InForkedProcess([] { syscall(SYS_exit, 17); }), ExitedWith(17));
}

int atexit_fd = -1;

void WriteOnExit() {
  const ssize_t unused = write(atexit_fd, "A", 1);
  (void)unused;
}

TEST(ExitTest, ExitRunsAtexitHandlersUnderscoreExitDoesNot) {
  for (const bool libc_exit : {true, false}) {
    SCOPED_TRACE(libc_exit ? "exit" : "_exit");
    int fds[2];
    ASSERT_THAT(pipe(fds), SyscallSucceeds());
    FileDescriptor rfd(fds[0]);
    FileDescriptor wfd(fds[1]);
    const pid_t pid = fork();
    if (pid == 0) {
      atexit_fd = fds[1];
      TEST_CHECK(atexit(WriteOnExit) == 0);
      if (libc_exit) exit(4);
      _exit(4);
    }
    ASSERT_THAT(pid, SyscallSucceeds());
    wfd.reset();
    int status = 0;
    ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
    EXPECT_THAT(status, ExitedWith(4));
    char buf[4];
    // Exit closed the child's copy of the write end, so the read ends.
    EXPECT_THAT(read(rfd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(libc_exit ? 1 : 0));
  }
}

TEST(ExitTest, ExitClosesDescriptors) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);
  int go[2];
  ASSERT_THAT(pipe(go), SyscallSucceeds());
  FileDescriptor go_r(go[0]);
  FileDescriptor go_w(go[1]);

  const pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    char c;
    // Hold the write end until told to exit.
    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  wfd.reset();
  go_r.reset();
  // The child still holds the write end: no EOF yet.
  char c;
  ASSERT_THAT(fcntl(rfd.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(read(rfd.get(), &c, 1), SyscallFailsWithErrno(EAGAIN));
  go_w.reset();
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(read(rfd.get(), &c, 1), SyscallSucceedsWithValue(0));
}

TEST(ExitTest, ZombieExistsUntilReaped) {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), SyscallSucceeds());
  EXPECT_THAT(kill(pid, 0), SyscallSucceeds());
  EXPECT_THAT(getpgid(pid), SyscallSucceeds());
  ASSERT_THAT(waitpid(pid, nullptr, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(kill(pid, 0), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(getpgid(pid), SyscallFailsWithErrno(ESRCH));
}

TEST(ExitTest, OrphanIsReparentedToSubreaper) {
  // The forked child is the subreaper, so that the reparenting does not
  // depend on who reaps orphans outside the test.
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
                int flag = 0;
                TEST_PCHECK(prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) == 0);
                TEST_CHECK(flag == 1);
                const pid_t reaper = getpid();

                int report[2], go[2];
                TEST_PCHECK(pipe(report) == 0);
                TEST_PCHECK(pipe(go) == 0);
                const pid_t middle = fork();
                TEST_PCHECK(middle >= 0);
                if (middle == 0) {
                  const pid_t grandchild = fork();
                  TEST_PCHECK(grandchild >= 0);
                  if (grandchild == 0) {
                    close(go[1]);
                    // Wait until the middle process is gone.
                    char c;
                    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
                    }
                    const pid_t ppid = getppid();
                    TEST_PCHECK(write(report[1], &ppid, sizeof(ppid)) == sizeof(ppid));
                    _exit(6);
                  }
                  TEST_PCHECK(write(report[1], &grandchild, sizeof(grandchild)) ==
                              sizeof(grandchild));
                  _exit(0);
                }
                close(report[1]);
                close(go[0]);
                pid_t grandchild = 0;
                TEST_PCHECK(read(report[0], &grandchild, sizeof(grandchild)) ==
                            sizeof(grandchild));
                int status = 0;
                TEST_PCHECK(waitpid(middle, &status, 0) == middle);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                TEST_PCHECK(write(go[1], "g", 1) == 1);
                pid_t ppid = 0;
                TEST_PCHECK(read(report[0], &ppid, sizeof(ppid)) == sizeof(ppid));
                TEST_CHECK(ppid == reaper);
                // The orphan is now our child: we can reap it.
                TEST_PCHECK(waitpid(grandchild, &status, 0) == grandchild);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 6);
                TEST_CHECK(wait(nullptr) == -1 && errno == ECHILD);
              }),
              ExitedWith(0));
}

TEST(ExitTest, ExitSignalOfParentDeathIsNotSentByDefault) {
  // Without PR_SET_PDEATHSIG, a child outlives its parent undisturbed.
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
                int sig = -1;
                TEST_PCHECK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) == 0);
                TEST_CHECK(sig == 0);
                int go[2];
                TEST_PCHECK(pipe(go) == 0);
                const pid_t middle = fork();
                TEST_PCHECK(middle >= 0);
                if (middle == 0) {
                  const pid_t grandchild = fork();
                  TEST_PCHECK(grandchild >= 0);
                  if (grandchild == 0) {
                    close(go[1]);
                    char c;
                    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
                    }
                    _exit(8);
                  }
                  _exit(0);
                }
                close(go[0]);
                TEST_PCHECK(waitpid(middle, nullptr, 0) == middle);
                TEST_PCHECK(write(go[1], "g", 1) == 1);
                int status = 0;
                const pid_t got = wait(&status);
                TEST_PCHECK(got > 0 && got != middle);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 8);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
