// Tests for pidfd_open(2) and pidfd_send_signal(2).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

int PidfdOpen(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }

int PidfdSendSignal(int fd, int sig, siginfo_t* info, unsigned flags) {
  return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

// ForkBlocked forks a child that exits with status 7 once *release_fd is
// written (or closed), and returns its PID.
pid_t ForkBlocked(int* release_fd) {
  int fds[2];
  TEST_PCHECK(pipe(fds) == 0);
  pid_t pid = fork();
  TEST_PCHECK(pid >= 0);
  if (pid == 0) {
    close(fds[1]);
    char c;
    (void)read(fds[0], &c, 1);
    _exit(7);
  }
  close(fds[0]);
  *release_fd = fds[1];
  return pid;
}

// ReapedPID returns the PID of a child that has exited and been reaped.
pid_t ReapedPID() {
  pid_t pid = fork();
  TEST_PCHECK(pid >= 0);
  if (pid == 0) _exit(0);
  int status;
  TEST_PCHECK(waitpid(pid, &status, 0) == pid);
  return pid;
}

TEST(PidfdOpenTest, OwnProcessIsCloseOnExec) {
  int fd = PidfdOpen(getpid(), 0);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(fcntl(fd, F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  char buf[8];
  EXPECT_THAT(read(fd, buf, sizeof(buf)), SyscallFailsWithErrno(EINVAL));
  close(fd);

  fd = PidfdOpen(getpid(), O_NONBLOCK);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  close(fd);
}

TEST(PidfdOpenTest, Errors) {
  EXPECT_THAT(PidfdOpen(0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(PidfdOpen(-1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(PidfdOpen(getpid(), O_CLOEXEC), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(PidfdOpen(ReapedPID(), 0), SyscallFailsWithErrno(ESRCH));
}

TEST(PidfdOpenTest, ThreadIsNotAProcess) {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread th([&] {
    tid = syscall(SYS_gettid);
    while (!done) usleep(1000);
  });
  while (tid == 0) usleep(1000);
  // ENOENT since Linux 6.9 (EINVAL before).
  EXPECT_THAT(PidfdOpen(tid, 0), SyscallFailsWithErrno(ENOENT));
  done = true;
  th.join();
}

TEST(PidfdOpenTest, PollsReadableOnExit) {
  int release;
  pid_t pid = ForkBlocked(&release);
  int fd = PidfdOpen(pid, 0);
  ASSERT_THAT(fd, SyscallSucceeds());
  struct pollfd pfd = {fd, POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 50), SyscallSucceedsWithValue(0));

  // The child exits while a poll waits.
  std::thread writer([release] {
    usleep(100 * 1000);
    TEST_PCHECK(write(release, "x", 1) == 1);
  });
  pfd.revents = 0;
  EXPECT_THAT(poll(&pfd, 1, 10000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents & POLLIN, POLLIN);
  writer.join();

  // Still readable, and still the child's, until and after it is reaped.
  pfd.revents = 0;
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  int status;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7) << status;
  close(release);
  close(fd);
}

TEST(PidfdSendSignalTest, KillsTheProcess) {
  int release;
  pid_t pid = ForkBlocked(&release);
  int fd = PidfdOpen(pid, 0);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(PidfdSendSignal(fd, 0, nullptr, 0), SyscallSucceeds());
  EXPECT_THAT(PidfdSendSignal(fd, SIGKILL, nullptr, 0), SyscallSucceeds());
  int status;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  // Reaped: the pidfd names a process that is gone.
  EXPECT_THAT(PidfdSendSignal(fd, SIGKILL, nullptr, 0), SyscallFailsWithErrno(ESRCH));
  close(release);
  close(fd);
}

TEST(PidfdSendSignalTest, Errors) {
  int fd = PidfdOpen(getpid(), 0);
  ASSERT_THAT(fd, SyscallSucceeds());
  // Not a PIDFD_SIGNAL_* scope.
  EXPECT_THAT(PidfdSendSignal(fd, 0, nullptr, 0x10), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(PidfdSendSignal(fd, 65, nullptr, 0), SyscallFailsWithErrno(EINVAL));
  siginfo_t info = {};
  info.si_signo = SIGUSR1;
  info.si_code = SI_QUEUE;
  EXPECT_THAT(PidfdSendSignal(fd, SIGUSR2, &info, 0), SyscallFailsWithErrno(EINVAL));

  int pipes[2];
  ASSERT_THAT(pipe(pipes), SyscallSucceeds());
  EXPECT_THAT(PidfdSendSignal(pipes[0], 0, nullptr, 0), SyscallFailsWithErrno(EBADF));
  close(pipes[0]);
  close(pipes[1]);
  EXPECT_THAT(PidfdSendSignal(pipes[0], 0, nullptr, 0), SyscallFailsWithErrno(EBADF));
  close(fd);
}

TEST(PidfdSendSignalTest, OwnProcessWithInfo) {
  int fd = PidfdOpen(getpid(), 0);
  ASSERT_THAT(fd, SyscallSucceeds());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &set, nullptr), SyscallSucceeds());
  siginfo_t info = {};
  info.si_signo = SIGUSR1;
  info.si_code = SI_QUEUE;
  info.si_value.sival_int = 42;
  ASSERT_THAT(PidfdSendSignal(fd, SIGUSR1, &info, 0), SyscallSucceeds());
  siginfo_t got = {};
  struct timespec timeout = {5, 0};
  ASSERT_THAT(sigtimedwait(&set, &got, &timeout), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_EQ(got.si_code, SI_QUEUE);
  EXPECT_EQ(got.si_value.sival_int, 42);
  ASSERT_THAT(sigprocmask(SIG_UNBLOCK, &set, nullptr), SyscallSucceeds());
  close(fd);
}

}  // namespace
}  // namespace testing
}  // namespace visor
